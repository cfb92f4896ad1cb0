"""Text pretext tasks."""
