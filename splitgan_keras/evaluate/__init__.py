"""Everything that evaluates a trained generator: its sources, the metrics and eval.py's work."""
