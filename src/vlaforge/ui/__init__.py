"""vlaforge.ui"""
