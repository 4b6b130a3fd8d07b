"""model/engine."""
