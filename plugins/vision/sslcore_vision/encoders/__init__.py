"""Image encoders: ``[B, C, H, W]`` float images -> ``[B, output_dim]``."""
