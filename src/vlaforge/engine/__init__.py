"""vlaforge.engine"""
