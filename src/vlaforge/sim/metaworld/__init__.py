"""Meta-World (MT10, MT50, single tasks) as a vlaforge suite: env, scripted experts, collection, render profile.

Needs the optional extra: `pip install -e ".[metaworld]"` (metaworld 3.1.1, which pins mujoco==3.3.0).
Names resolve lazily and `tasks`/`language` never import metaworld, so `--help`, suite names and
error messages work without the extra; anything that builds an env calls `require_metaworld()` first.
"""

from __future__ import annotations

from typing import Any

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "MetaWorldEnv": "vlaforge.sim.metaworld.env",
    "feature_spec": "vlaforge.sim.metaworld.env",
    "FPS": "vlaforge.sim.metaworld.env",
    "collect": "vlaforge.sim.metaworld.collect",
    "MT10": "vlaforge.sim.metaworld.tasks",
    "MT50": "vlaforge.sim.metaworld.tasks",
    "DIFFICULTY": "vlaforge.sim.metaworld.tasks",
    "PROFILES": "vlaforge.sim.metaworld.render",
}
__all__ = sorted([*_EXPORTS, "require_metaworld", "available"])
INSTALL = "pip install -e \".[metaworld]\"  (from a vlaforge checkout; or pip install \"vlaforge[metaworld]\")"


def require_metaworld() -> Any:
    """The imported `metaworld` package, or MissingExtra saying which pip command installs it."""
    from vlaforge.errors import MissingExtra

    try:
        import metaworld
    except ImportError as e:
        raise MissingExtra(f"the Meta-World suite needs the metaworld extra, which is not installed ({e}); run: {INSTALL}") from None
    except Exception as e:  # noqa: BLE001 - metaworld 3.1.1 fails at import with a mujoco other than 3.3.0
        import importlib.metadata as md

        raise MissingExtra(f"metaworld is installed but does not import ({type(e).__name__}: {e}); it needs mujoco==3.3.0, "
                           f"this environment has mujoco {md.version('mujoco')}; run: {INSTALL}") from None
    return metaworld


def available() -> bool:
    """True when metaworld imports (tests skip on False)."""
    try:
        require_metaworld()
    except Exception:  # noqa: BLE001
        return False
    return True


__getattr__ = lazy_getattr(__name__, _EXPORTS)
