"""sslcore-graph: graph encoders, pretext tasks and datasets for sslcore.

Importing this package (or its ``plugin`` module) imports nothing heavy; the components
are registered with string factories and loaded on first use.
"""

__version__ = "0.1.0"
