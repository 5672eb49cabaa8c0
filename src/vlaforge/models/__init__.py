"""vlaforge.models"""
