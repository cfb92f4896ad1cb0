"""Graph encoders (``gcn``, ``gin``, ``gat``, ``sage``), all
:class:`~sslcore_graph.encoders.message_passing.GraphEncoder` (the contract they share is
in that module's docstring)."""
