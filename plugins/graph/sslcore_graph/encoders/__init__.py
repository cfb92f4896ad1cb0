"""Graph encoders: map a PyG ``Data`` / ``Batch`` to node embeddings ``[num_nodes, output_dim]``."""
