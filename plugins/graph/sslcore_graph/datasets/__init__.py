"""Graph datasets: factories ``(root, **options) -> DatasetBundle``."""
