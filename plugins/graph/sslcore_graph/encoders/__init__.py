"""Graph encoders (``gcn``, ``gin``, ``gat``, ``sage``), all
:class:`~sslcore_graph.encoders.message_passing.GraphEncoder`:

- ``forward(data) -> [num_nodes, output_dim]`` node embeddings of a PyG ``Data``/``Batch``,
- ``readout(data, node_states) -> [num_graphs, output_dim]`` (``readout`` option
  ``"sum"`` | ``"mean"`` | ``"max"``),
- ``graph_embed(data) -> [num_graphs, output_dim]`` = ``readout(data, forward(data))``.
"""
