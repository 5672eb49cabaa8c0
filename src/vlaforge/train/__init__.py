"""vlaforge.train"""
