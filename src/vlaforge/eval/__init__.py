"""vlaforge.eval"""
