"""AI-assisted annotation: subtask segmentation from an episode's own signals, suggested instructions, review.

`segment` finds subtask boundaries; `suggest` says what moved where; `run` writes both into a new
dataset version as pending suggestions and applies a person's accept/reject decisions.
"""
