"""Class-Splitting GAN (Grinblat, Uzal, Granitto; arXiv 1709.07359) in TensorFlow 2 Keras.

The public names are imported on first use, so that the command-line tools can check their
input before TensorFlow is loaded. Importing the package turns on TensorFlow's oneDNN CPU kernels
unless TF_ENABLE_ONEDNN_OPTS is set, and quiets TensorFlow's C++ start-up unless TF_CPP_MIN_LOG_LEVEL is set
(cpu_backend.py).
"""
import importlib

from splitgan_keras import cpu_backend

cpu_backend.choose()  # before anything imports TensorFlow (cpu_backend.py says why)
cpu_backend.quiet()

_PUBLIC = {"Generator": "models.networks", "Critic": "models.networks", "MAX_CLASSES": "models.networks",
           "NOISE_DIM": "models.networks",
           "load_tf1_checkpoint": "artefacts.tf1_import"}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module("splitgan_keras." + _PUBLIC[name]), name)
    raise AttributeError("module 'splitgan_keras' has no attribute %r" % name)
