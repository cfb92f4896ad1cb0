"""sslcore-vision: image encoders, vision pretext tasks and image datasets for sslcore.

Importing this package imports nothing heavy; the components live in submodules that the
registry loads by name (see :mod:`sslcore_vision.plugin`).
"""

__version__ = "0.1.0"
