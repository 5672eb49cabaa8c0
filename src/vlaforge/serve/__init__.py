"""vlaforge.serve"""
