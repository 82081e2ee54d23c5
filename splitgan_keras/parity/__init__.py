"""Parity records: recording a short deterministic run (recording.py, train.py --parity-record), and
the record format with the comparison of two records (records.py, eval.py --compare)."""
