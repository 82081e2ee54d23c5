"""Experiments built from whole training runs: `python -m splitgan_keras.experiments ablation`."""
