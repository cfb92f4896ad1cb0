"""Graph pretext tasks."""
