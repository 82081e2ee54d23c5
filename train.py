"""Train Class-Splitting GAN: `python train.py --help`; the options are documented in README.md."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines drown the progress output

from splitgan_keras.cli.main import train_command  # noqa: E402

if __name__ == "__main__":
    train_command()
