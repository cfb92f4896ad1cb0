"""Text datasets and the readers and collate functions they share."""
