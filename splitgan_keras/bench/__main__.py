"""python -m splitgan_keras.bench (see single.py)."""
import sys

from splitgan_keras.bench import single

if __name__ == "__main__":
    sys.exit(single.main())
