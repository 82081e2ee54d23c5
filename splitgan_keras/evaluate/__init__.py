"""Everything that reads a trained generator: sources, sampling, metrics, pictures, export, eval.py's work."""
