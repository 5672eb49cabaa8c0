"""Action heads: flow (default), tokens, chunk. Each maps context tokens to an H-step action chunk."""
