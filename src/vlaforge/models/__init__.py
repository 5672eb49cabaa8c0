"""Small VLA policies: encoders, trunk, action heads (flow, tokens, chunk), save/load.

Names resolve lazily so `import vlaforge.models` does not import torch or transformers.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "FlowConfig": "vlaforge.models.heads.flow_config",
    "PolicyConfig": "vlaforge.models.config",
    "TokensConfig": "vlaforge.models.heads.tokens_config",
    "VLAPolicy": "vlaforge.models.policy",
    "build_policy": "vlaforge.models.policy",
    "load_policy": "vlaforge.models.policy",
    "register_encoder": "vlaforge.models.registry",
    "register_head": "vlaforge.models.registry",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
