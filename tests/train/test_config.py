"""TrainConfig refuses values that would crash later or silently train nothing, for Python users too."""

import pytest

from vlaforge.errors import ConfigError
from vlaforge.train.config import TrainConfig


@pytest.mark.parametrize("field, value", [
    ("steps", 0), ("batch_size", 0), ("val_every", 0), ("save_every", 0), ("log_every", 0), ("val_batches", 0),
    ("lr", -1.0), ("lr", 0.0), ("lr", float("nan")), ("lr", float("inf")), ("ema_decay", 2.0), ("ema_decay", 1.0),
    ("ema_decay", -0.1), ("weight_decay", -1.0), ("warmup_steps", -1), ("grad_clip", float("nan")),
    ("lr_floor", 1.5), ("val_fraction", 1.0), ("num_workers", -1), ("threads", -1), ("budget_minutes", -1.0),
])
def test_bad_value_names_the_flag(field, value):
    with pytest.raises(ConfigError, match=f"--train.{field} "):
        TrainConfig(**{field: value})


def test_defaults_and_edge_values_are_accepted():
    TrainConfig()
    TrainConfig(steps=1, batch_size=1, ema_decay=0.0, val_fraction=0.0, grad_clip=0.0, warmup_steps=0, lr_floor=0.0)
