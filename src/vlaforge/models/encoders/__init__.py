"""Vision and language encoders."""
