"""Vision pretext tasks."""
