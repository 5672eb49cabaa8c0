"""vlaforge.sim"""
