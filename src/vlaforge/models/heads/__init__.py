"""Action heads: chunk (default), flow, tokens. Each maps context tokens to an H-step action chunk.

A head with settings of its own keeps them in a light `<name>_config.py` (no torch), nested in PolicyConfig."""
