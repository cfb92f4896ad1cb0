r"""Will one full-graph training step fit in memory? An estimate of its peak and a check
that fails early, with the mini-batch option to use instead, rather than swapping or being
killed by the kernel's out-of-memory killer.

The node-level tasks (DGI, GRACE, BGRL, MVGRL, GraphMAE, the auto-encoders) run the
encoder over the whole graph once or more per step (``passes``: DGI the graph and its
corrupted copy, GRACE / BGRL two views, MVGRL two views and their corrupted copies) and keep
every layer's activations for the backward pass. For a graph of :math:`N` nodes,
:math:`E` (directed) edges and :math:`F` features, an encoder of :math:`L` layers of widths
:math:`w_l` whose layer :math:`l` gathers messages of width :math:`m_l` per edge
(:math:`m_l = 0` for ``gcn``, which aggregates with one sparse matrix product instead), the
step needs about

.. math::
    B = P \Big( \sum_{l=1}^{L} \big( a\, N w_l + b\, E m_l \big) \cdot 4
        + c\, (E + N) \cdot 8 \Big) + d\, N F \cdot 4

bytes beyond the graph itself (float32 values, int64 indices): :math:`a` ``[N, w]``
activations and gradients per layer, :math:`b` ``[E, m]`` message tensors (gathered and
their gradients), :math:`c` the per-pass index and normalised-adjacency tensors, :math:`d`
copies of the input features (a corrupted or masked view). The constants were calibrated
on SBM graphs (10 blocks, 128 features, ``generator="sparse"``) against the peak resident
memory of two training steps (forward, backward, Adam; one thread) minus the resident memory
before them; they overestimate by 1.15-1.5x rather than under:

====================  =======  =========  ==============  ==========  ========
task, encoder         N        E          layers          measured    estimate
====================  =======  =========  ==============  ==========  ========
DGI, gcn              20,000   200,896    [512]           295 MiB     369 MiB
DGI, gcn              100,000  1,001,840  [512]           1417 MiB    1843 MiB
DGI, gcn              100,000  4,000,126  [512]           1738 MiB    2209 MiB
DGI, gcn              100,000  1,001,840  [128]           519 MiB     672 MiB
DGI, gcn 2 layers     40,000   399,936    [512, 512]      929 MiB     1362 MiB
DGI, sage             20,000   200,896    [256, 256]      597 MiB     761 MiB
DGI, sage             20,000   800,038    [256, 256]      1316 MiB    2004 MiB
GRACE, gcn (P = 4)    20,000   200,896    [512]           642 MiB     738 MiB
====================  =======  =========  ==============  ==========  ========

GRACE counts as 4 passes (its two views, their projections and the tiled loss's
buffers: 2 passes would give 369 MiB, under the measured peak), as BGRL and MVGRL.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from sslcore.errors import ConfigError

#: multipliers of the estimate (module docstring: a, b, c, d), calibrated as listed there
ACTIVATION_COPIES = 4.0
MESSAGE_COPIES = 0.5
INDEX_COPIES = 8.0
FEATURE_COPIES = 3.0
#: encoder passes per training step (by task label) of the tasks that need more than the default 2
ENCODER_PASSES = {"GRACE": 4, "BGRL": 4, "MVGRL": 4}
DEFAULT_PASSES = 2
#: the check refuses a step estimated to need more than this fraction of the available memory
USABLE_FRACTION = 0.9
#: cgroup v2 folder whose memory.max / memory.current limit this process
CGROUP = Path("/sys/fs/cgroup")
#: the mini-batch size the error message suggests
SUGGESTED_BATCH_NODES = 1024

_GIB = 2**30


def estimate_full_batch_bytes(
    num_nodes: int,
    num_edges: int,
    num_features: int,
    widths: Sequence[int],
    message_widths: Sequence[int] | None = None,
    passes: int = DEFAULT_PASSES,
) -> int:
    """Estimated peak bytes of one full-graph training step beyond the graph itself (module
    docstring): ``widths`` ``[L]`` are the encoder layers' output widths, ``message_widths``
    ``[L]`` the widths of the per-edge messages each layer gathers (``None`` or zeros: a
    sparse-matrix aggregation that gathers none), ``passes`` the encoder passes per step.
    Monotone in every argument."""
    if passes < 1 or not widths:
        raise ValueError(f"passes must be >= 1 and widths non-empty, got passes={passes}, widths={widths}")
    messages = list(message_widths) if message_widths is not None else [0] * len(widths)
    if len(messages) != len(widths):
        raise ValueError(f"widths {list(widths)} and message_widths {messages} differ in length")
    per_layer = sum(
        ACTIVATION_COPIES * num_nodes * w + MESSAGE_COPIES * num_edges * m for w, m in zip(widths, messages)
    )
    per_pass = 4 * per_layer + 8 * INDEX_COPIES * (num_edges + num_nodes)
    return int(passes * per_pass + 4 * FEATURE_COPIES * num_nodes * num_features)


def _conv_width(conv: nn.Module, attribute: str) -> int | None:
    value = getattr(conv, attribute, None)
    if isinstance(value, int) and value > 0:
        heads = getattr(conv, "heads", 1) if attribute == "out_channels" else 1  # GAT: heads concatenated
        concat = getattr(conv, "concat", True) is True
        return value * (heads if isinstance(heads, int) and concat else 1)
    return None


def encoder_layer_widths(encoder: nn.Module) -> tuple[list[int], list[int]]:
    """``(widths, message_widths)`` of an encoder's message-passing layers, for
    :func:`estimate_full_batch_bytes`. A :class:`~sslcore_graph.encoders.message_passing.GraphEncoder`
    is read from its ``convs`` (``in_channels`` / ``out_channels``, times ``heads`` for GAT);
    its messages are ``max(in, out)`` wide unless the encoder aggregates with a sparse
    adjacency (``gcn``). Another module counts as two layers of ``output_dim`` that gather
    messages of that width (or 512 without ``output_dim``)."""
    from sslcore_graph.encoders.message_passing import GraphEncoder

    fallback = int(getattr(encoder, "output_dim", 512) or 512)
    convs = getattr(encoder, "convs", None)
    if not isinstance(encoder, GraphEncoder) or not convs:
        return [fallback, fallback], [fallback, fallback]
    sparse = type(encoder).adjacency is not GraphEncoder.adjacency  # gcn: one sparse matmul per layer
    widths, messages = [], []
    for conv in convs:
        out = _conv_width(conv, "out_channels") or fallback
        in_ = _conv_width(conv, "in_channels") or out
        widths.append(out)
        messages.append(0 if sparse else max(in_, out))
    if encoder.jk == "cat":
        widths[-1] += sum(widths[:-1])  # the concatenated output
    return widths, messages


def _size(num_bytes: float) -> str:
    return f"{num_bytes / _GIB:.1f} GiB" if num_bytes >= _GIB / 10 else f"{num_bytes / 2**20:.1f} MiB"


def available_memory_bytes() -> int | None:
    """Memory this process can still use: the system's available memory
    (``psutil.virtual_memory().available``, else ``MemAvailable`` of ``/proc/meminfo``),
    or the cgroup's limit minus its usage (``/sys/fs/cgroup/memory.max`` and
    ``memory.current``) when lower; ``None`` when neither can be read."""
    candidates: list[int] = []
    try:
        import psutil

        candidates.append(int(psutil.virtual_memory().available))
    except Exception:  # noqa: BLE001 - psutil missing or unsupported: fall back to /proc
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    candidates.append(int(line.split()[1]) * 1024)
        except OSError:
            pass
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        if limit != "max":
            current = int((CGROUP / "memory.current").read_text().strip())
            candidates.append(max(int(limit) - current, 0))
    except (OSError, ValueError):
        pass
    return min(candidates) if candidates else None


#: (graph id, encoder id) -> graph, for the graphs already found to fit: the collate calls
#: the check every step, and after the first step the memory the allocator keeps no longer
#: looks available. Values are weak: an entry goes with its graph (``Data`` is not hashable).
_checked: weakref.WeakValueDictionary[tuple[int, int], Any] = weakref.WeakValueDictionary()


def check_full_batch_fits(
    graph: Any,
    encoder: nn.Module,
    label: str,
    passes: int | None = None,
    available: int | None = None,
) -> None:
    """Raise ``ConfigError`` when one full-batch training step of ``graph`` (``num_nodes``,
    ``num_edges``, ``num_features``) through ``encoder`` is estimated
    (:func:`estimate_full_batch_bytes`, :func:`encoder_layer_widths`) to need more than
    ``USABLE_FRACTION`` of ``available`` bytes (default :func:`available_memory_bytes`;
    no check when unknown). ``passes``: encoder passes per step (default
    ``ENCODER_PASSES.get(label, 2)``); ``label`` names the task in the message, which gives
    the estimate, the memory available and the fix (mini-batches:
    ``--dataset-opt batch_nodes=1024``). A graph that fits is not checked again for the
    same encoder."""
    key = (id(graph), id(encoder))
    if _checked.get(key) is graph:
        return
    num_nodes, num_edges = int(graph.num_nodes), int(graph.num_edges)
    num_features = int(getattr(graph, "num_features", 0) or 0)
    widths, messages = encoder_layer_widths(encoder)
    passes = passes if passes is not None else ENCODER_PASSES.get(label, DEFAULT_PASSES)
    needed = estimate_full_batch_bytes(num_nodes, num_edges, num_features, widths, messages, passes)
    available = available if available is not None else available_memory_bytes()
    if available is not None and needed > USABLE_FRACTION * available:
        raise ConfigError(
            f"{label}: full-batch training on this graph ({num_nodes:,} nodes, {num_edges:,} edges, "
            f"{num_features} features; encoder layers {widths}, {passes} encoder passes per step) needs "
            f"about {_size(needed)} for one step, but only {_size(available)} of memory is "
            f"available; train on sampled subgraphs instead: --dataset-opt batch_nodes="
            f"{SUGGESTED_BATCH_NODES} (Python: dataset_options={{'batch_nodes': {SUGGESTED_BATCH_NODES}}}; "
            "docs/graph.md, 'Large graphs')"
        )
    try:
        _checked[key] = graph
    except TypeError:  # not weak-referenceable (a stand-in object): checked every time
        pass
