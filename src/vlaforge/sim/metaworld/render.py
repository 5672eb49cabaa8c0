"""Rendering Meta-World cheaply: a render profile (buffer, MSAA, shadows, reflections, mesh detail) and a camera renderer.

Profiled with software GL (llvmpipe through EGL, 1 thread) at 64 px: Meta-World's own settings
(640x480 offscreen buffer, 4x MSAA, 4096 px shadow maps, reflections) cost ~180 ms per frame, almost all
of it shadows; without shadows and reflections ~12 ms, of which ~10 ms is the ~67k mesh faces of the
Sawyer arm. The "fast" profile also merges mesh vertices closer than `decimate_mm` (vertex clustering),
which removes most faces of visual-only meshes; at 64-128 px the picture barely changes
(benchmarks/metaworld_render.py reports the pixel difference as well as the speed).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class RenderProfile:
    """How a Meta-World scene is drawn; `full` is Meta-World's own look, `fast` what vlaforge trains and evaluates with."""

    name: str
    buffer_fits_image: bool = True  # offscreen buffer = image size (Meta-World's model asks for 640x480)
    msaa: int = 0  # offscreen multisamples (Meta-World: 4)
    shadows: bool = False
    reflections: bool = False
    skybox: bool = False
    decimate_mm: float = 0.0  # vertex-clustering cell for visual-only meshes; 0 keeps every face


PROFILES = {
    "full": RenderProfile("full", buffer_fits_image=False, msaa=4, shadows=True, reflections=True, skybox=True),
    "fast": RenderProfile("fast", skybox=True, decimate_mm=10.0),
    "fast-full-meshes": RenderProfile("fast-full-meshes", skybox=True),
}


def get_profile(name: str | RenderProfile) -> RenderProfile:
    """A profile by name (or the profile itself)."""
    if isinstance(name, RenderProfile):
        return name
    if name not in PROFILES:
        raise ConfigError(f"unknown render profile {name!r}; choose from {list(PROFILES)}")
    return PROFILES[name]


def decimate_meshes(model: Any, cell_mm: float) -> int:
    """Vertex clustering in place on meshes only visual geoms use; returns the faces removed.

    Vertices in the same `cell_mm` grid cell move to the cell's mean and faces that collapse are
    dropped (faces, face normals and face texcoords stay aligned). Meshes any colliding geom uses are
    left alone, so physics is unchanged. Call before a renderer uploads the model.
    """
    import mujoco

    collide = {int(model.geom_dataid[g]) for g in range(model.ngeom)
               if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and (model.geom_contype[g] or model.geom_conaffinity[g])}
    removed, h = 0, cell_mm / 1000.0
    for i in range(model.nmesh):
        if i in collide:
            continue
        va, vn = model.mesh_vertadr[i], model.mesh_vertnum[i]
        fa, fn = model.mesh_faceadr[i], model.mesh_facenum[i]
        verts = model.mesh_vert[va : va + vn]  # (V, 3) in the mesh frame
        _, cluster = np.unique(np.floor(verts / h).astype(np.int64), axis=0, return_inverse=True)
        cluster = cluster.reshape(-1)
        means = np.zeros((cluster.max() + 1, 3))
        np.add.at(means, cluster, verts)
        means /= np.bincount(cluster)[:, None]
        faces = model.mesh_face[fa : fa + fn]  # (F, 3) vertex indices local to the mesh
        c = cluster[faces]
        keep = (c[:, 0] != c[:, 1]) & (c[:, 1] != c[:, 2]) & (c[:, 0] != c[:, 2])
        k = int(keep.sum())
        if k == 0:  # a tiny mesh would vanish: keep it as it is
            continue
        model.mesh_vert[va : va + vn] = means[cluster]
        for arr in (model.mesh_face, model.mesh_facenormal, model.mesh_facetexcoord):
            if arr.shape[0] >= fa + fn:
                block = arr[fa : fa + fn].copy()
                arr[fa : fa + k] = block[keep]
        model.mesh_facenum[i] = k
        removed += fn - k
    return removed


class CameraRenderer:
    """Renders named cameras of a MuJoCo model at `size` x `size` under a RenderProfile."""

    def __init__(self, model: Any, size: int, profile: str | RenderProfile = "fast"):
        import mujoco

        self._mj = mujoco
        self.profile = p = get_profile(profile)
        if p.buffer_fits_image:  # the offscreen buffer is allocated at the model's size, whatever the image size
            model.vis.global_.offwidth, model.vis.global_.offheight = size, size
        model.vis.quality.offsamples = p.msaa
        self.faces_removed = decimate_meshes(model, p.decimate_mm) if p.decimate_mm > 0 else 0
        self.renderer = mujoco.Renderer(model, size, size)
        flags = self.renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = p.shadows
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = p.reflections
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = p.skybox

    def render(self, data: Any, camera: str) -> np.ndarray:
        """(size, size, 3) uint8 image from `camera`."""
        self.renderer.update_scene(data, camera)
        return self.renderer.render()

    def close(self) -> None:
        """Free the GL context."""
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
