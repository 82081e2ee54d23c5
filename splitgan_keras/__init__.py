"""Class-Splitting GAN (Grinblat, Uzal, Granitto; arXiv 1709.07359) in TensorFlow 2 Keras.

The public names are imported on first use, so that the command-line tools can check their
input before TensorFlow is loaded. Importing the package asks TF >= 2.16 for Keras 2 (TF_USE_LEGACY_KERAS),
turns on TensorFlow's oneDNN CPU kernels unless TF_ENABLE_ONEDNN_OPTS is set, and quiets TensorFlow's C++
start-up unless TF_CPP_MIN_LOG_LEVEL is set (cpu_backend.py).
"""
import importlib
import os

from splitgan_keras import cpu_backend

# Keras 2 on every stack: from TF 2.16, tf.keras is Keras 3 unless TF_USE_LEGACY_KERAS is set before TensorFlow
# loads; set, tf.keras is tf_keras (Keras 2), which the requirements of that stack install. Set for those only:
# TF 2.15 reads it too, and would then want tf_keras in the place of its own Keras 2. compat.py refuses a Keras 3
# that TensorFlow loaded before this could set it.
if (cpu_backend.installed_tensorflow() or (0, 0)) >= (2, 16):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

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
