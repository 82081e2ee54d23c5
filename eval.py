"""Evaluate Class-Splitting GAN runs: `python eval.py --help`; see README.md."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines drown the report

from splitgan_keras.cli.main import eval_command  # noqa: E402

if __name__ == "__main__":
    eval_command()
