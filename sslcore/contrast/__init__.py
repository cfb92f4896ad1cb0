"""Contrast kernels: domain-agnostic losses on embeddings.

Each function here is the plain reference implementation; fast paths sit behind the
same signature (``backend=``).
"""

from sslcore.contrast.cross_view import cross_view
from sslcore.contrast.info_nce import info_nce
from sslcore.contrast.multi_positive import multi_positive
from sslcore.contrast.negative_cosine import negative_cosine
from sslcore.contrast.nt_xent import nt_xent

__all__ = ["cross_view", "info_nce", "multi_positive", "negative_cosine", "nt_xent"]
