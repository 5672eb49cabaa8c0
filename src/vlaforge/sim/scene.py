"""The tabletop scene as MJCF: table, a gantry gripper driven by end-effector targets with two
physical fingers (friction grasp, so grasps can slip), blocks, bins and two cameras.

Fast rendering is baked in: no multisampling, no shadows, no reflections.
"""

from __future__ import annotations

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.15, 0.15),
    "green": (0.15, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.85),
    "yellow": (0.9, 0.8, 0.1),
}
SHAPES = ("block", "cylinder")
N_OBJECTS = 4
BIN_COLORS = ("blue", "yellow")
TABLE_Z = 0.0
TIMESTEP = 0.01  # s; 10 physics steps per 10 Hz control step
HALF = 0.02  # object half size (m)
BIN_HALF = 0.06  # bin inner half width (m)
WORKSPACE = ((-0.25, 0.25), (-0.2, 0.2))  # x, y ranges on the table
MAX_DELTA = 0.02  # m: the largest end-effector target move one control step can ask for, per axis


def _object(i: int) -> str:
    # One body per shape per slot; the env parks the unused shape on the hidden floor (switching a
    # geom's collision masks at run time does not work reliably in MuJoCo).
    geoms = {"block": f'type="box" size="{HALF} {HALF} {HALF}"', "cylinder": f'type="cylinder" size="{HALF} {HALF}"'}
    return "".join(f"""
    <body name="obj{i}_{shape}" pos="{1.5 + 0.1 * i} {1.5 + 0.2 * k} -0.45">
      <freejoint name="obj{i}_{shape}"/>
      <geom name="obj{i}_{shape}" {g} mass="0.05" condim="6" friction="1.2 0.01 0.005" rgba="1 1 1 1"/>
    </body>""" for k, (shape, g) in enumerate(geoms.items()))


def _bin(name: str, color: str) -> str:
    r, g, b = COLORS[color]
    w, h, t = BIN_HALF, 0.015, 0.004
    walls = "".join(
        f'<geom type="box" pos="{x} {y} {h}" size="{sx} {sy} {h}" rgba="{r} {g} {b} 1"/>'
        for x, y, sx, sy in ((w + t, 0, t, w + 2 * t), (-w - t, 0, t, w + 2 * t), (0, w + t, w, t), (0, -w - t, w, t))
    )
    return f"""
    <body name="{name}" mocap="true" pos="0 0 0">
      <geom type="box" pos="0 0 0.001" size="{w} {w} 0.001" rgba="{r * 0.7} {g * 0.7} {b * 0.7} 1" contype="0" conaffinity="0"/>
      {walls}
    </body>"""


def scene_xml(image_size: int = 96) -> str:
    """The full MJCF string."""
    objs = "".join(_object(i) for i in range(N_OBJECTS))
    bins = "".join(_bin(f"bin_{c}", c) for c in BIN_COLORS)
    return f"""
<mujoco model="vlaforge_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{TIMESTEP}" iterations="20" cone="elliptic" impratio="5">
    <flag multiccd="enable"/>
  </option>
  <visual>
    <quality offsamples="0" shadowsize="0" numslices="16" numstacks="4" numquads="1"/>
    <global offwidth="{image_size}" offheight="{image_size}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <default>
    <geom solref="0.01 1" solimp="0.95 0.99 0.001"/>
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="64" height="64" rgb1="0.55 0.5 0.45" rgb2="0.6 0.55 0.5"/>
    <material name="table" texture="grid" texrepeat="8 8" reflectance="0"/>
  </asset>
  <worldbody>
    <light name="key" pos="0 -0.3 1.2" dir="0 0.2 -1" diffuse="0.6 0.6 0.6" castshadow="false"/>
    <geom name="floor" type="plane" pos="0 0 -0.5" size="3 3 0.1" rgba="0 0 0 0"/>
    <geom name="table" type="box" pos="0 0 -0.02" size="0.4 0.3 0.02" material="table" friction="0.8 0.01 0.001"/>
    <camera name="front" pos="0 -0.55 0.45" xyaxes="1 0 0 0 0.63 0.78" fovy="55"/>
    <body name="target" mocap="true" pos="0 0 0">
      <geom type="cylinder" size="0.035 0.0005" rgba="0.95 0.95 0.95 1" contype="0" conaffinity="0"/>
    </body>
    {bins}
    <body name="hand" pos="0 0 0.25">
      <joint name="hx" type="slide" axis="1 0 0" damping="40"/>
      <joint name="hy" type="slide" axis="0 1 0" damping="40"/>
      <joint name="hz" type="slide" axis="0 0 1" damping="40"/>
      <geom name="palm" type="box" size="0.035 0.012 0.01" mass="0.4" rgba="0.3 0.3 0.32 1"/>
      <camera name="wrist" pos="0 -0.025 -0.016" xyaxes="1 0 0 0 0.6 0.8" fovy="80"/>
      <body name="finger_l" pos="0 0 -0.035">
        <joint name="fl" type="slide" axis="1 0 0" range="-0.045 0" damping="5"/>
        <geom name="pad_l" type="box" pos="0.045 0 0" size="0.005 0.012 0.025" mass="0.05" friction="2.0 0.02 0.002" rgba="0.2 0.2 0.2 1"/>
      </body>
      <body name="finger_r" pos="0 0 -0.035">
        <joint name="fr" type="slide" axis="-1 0 0" range="-0.045 0" damping="5"/>
        <geom name="pad_r" type="box" pos="-0.045 0 0" size="0.005 0.012 0.025" mass="0.05" friction="2.0 0.02 0.002" rgba="0.2 0.2 0.2 1"/>
      </body>
    </body>
    {objs}
    <body name="distractor" mocap="true" pos="0.6 0.6 -0.3">
      <geom name="distractor" type="box" size="0.018 0.018 0.018" rgba="0.6 0.3 0.7 1"/>
    </body>
  </worldbody>
  <equality>
    <joint joint1="fl" joint2="fr" polycoef="0 1 0 0 0"/>
  </equality>
  <actuator>
    <position name="ax" joint="hx" kp="600" ctrlrange="-0.3 0.3"/>
    <position name="ay" joint="hy" kp="600" ctrlrange="-0.25 0.25"/>
    <position name="az" joint="hz" kp="600" ctrlrange="-0.2 0.1"/>
    <position name="grip" joint="fl" kp="60" ctrlrange="-0.045 0" forcerange="-8 8"/>
  </actuator>
</mujoco>
"""
