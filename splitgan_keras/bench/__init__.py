"""The benchmark, `python -m splitgan_keras.bench`: one process (single.py), the scaling over worker
processes (replicas.py), and what both share (common.py)."""
