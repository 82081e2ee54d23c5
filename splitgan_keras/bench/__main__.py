"""python -m splitgan_keras.bench (see single.py)."""
import sys

from splitgan_keras.bench import single

sys.exit(single.main())
