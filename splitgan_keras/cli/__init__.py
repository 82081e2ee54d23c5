"""The command lines: train.py and eval.py (main.py), their flags generated from the config table
(flags.py), and docs/options.md (options_page.py)."""
