"""Train Class-Splitting GAN: `python train.py --help`; the options are documented in README.md."""
from splitgan_keras.cli.main import train_command

if __name__ == "__main__":
    train_command()
