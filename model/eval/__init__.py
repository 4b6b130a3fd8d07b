"""model/eval."""
