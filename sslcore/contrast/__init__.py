"""Contrast kernels: domain-agnostic losses on embeddings.

Each function here is the plain reference implementation; fast paths sit behind the
same signature (``backend=``).
"""

from sslcore.contrast.alignment_uniformity import alignment, uniformity
from sslcore.contrast.barlow_twins import barlow_twins
from sslcore.contrast.cross_view import cross_view
from sslcore.contrast.dino import dino_loss, ibot_patch_loss, update_center
from sslcore.contrast.info_nce import info_nce
from sslcore.contrast.momentum import MomentumUpdater, cosine_momentum, ema_update, momentum_copy
from sslcore.contrast.multi_positive import multi_positive
from sslcore.contrast.mutual_information import bce_mi, jsd_mi
from sslcore.contrast.negative_cosine import negative_cosine
from sslcore.contrast.nt_xent import nt_xent
from sslcore.contrast.precision import fp32_precision, get_fp32_precision, set_fp32_precision
from sslcore.contrast.queue import NegativeQueue
from sslcore.contrast.scaled_cosine import scaled_cosine_error
from sslcore.contrast.swav import sinkhorn_knopp, swav_loss
from sslcore.contrast.vicreg import VICRegTerms, vicreg, vicreg_terms

__all__ = [
    "MomentumUpdater",
    "NegativeQueue",
    "VICRegTerms",
    "alignment",
    "barlow_twins",
    "bce_mi",
    "cosine_momentum",
    "cross_view",
    "dino_loss",
    "ema_update",
    "fp32_precision",
    "get_fp32_precision",
    "ibot_patch_loss",
    "info_nce",
    "jsd_mi",
    "momentum_copy",
    "multi_positive",
    "negative_cosine",
    "nt_xent",
    "scaled_cosine_error",
    "set_fp32_precision",
    "sinkhorn_knopp",
    "swav_loss",
    "uniformity",
    "update_center",
    "vicreg",
    "vicreg_terms",
]
