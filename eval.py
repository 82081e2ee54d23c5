"""Evaluate Class-Splitting GAN runs: `python eval.py --help`; see README.md."""
from splitgan_keras.cli.main import eval_command

if __name__ == "__main__":
    eval_command()
