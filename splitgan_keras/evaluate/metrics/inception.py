"""The Inception network of tensorflow-gan's metrics: loading it, and running it on images.

The network is tfgan's TF-Hub module (tfgan.eval.INCEPTION_TFHUB, the 2015 Inception graph the
OpenAI Inception Score uses), or a local copy of it for offline machines. It takes [-1, 1] images
of 299x299 and returns `logits` [N, 1008] and `pool_3` [N, 2048].
"""
from __future__ import annotations

import hashlib
import os
import tarfile
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_gan as tfgan

from splitgan_keras import config as config_lib, runtime
from splitgan_keras.errors import UserError
from splitgan_keras.replicas import Replicas

DEFAULT_HANDLE = tfgan.eval.INCEPTION_TFHUB
LOGITS, POOL = tfgan.eval.INCEPTION_OUTPUT, tfgan.eval.INCEPTION_FINAL_POOL
IMAGE_SIZE = tfgan.eval.INCEPTION_DEFAULT_IMAGE_SIZE
BATCH = 100  # the original's Inception Score batch
_HOW_TO_GET = ("on a machine with network, download %s?tf-hub-format=compressed, extract the archive and pass its "
               "folder with --inception DIR" % DEFAULT_HANDLE)


def preprocess(pixels):
    """uint8 [N, H, W, 3] -> float32 [N, 299, 299, 3] in [-1, 1].

    As the common tfgan port of the OpenAI score does: scale to [-1, 1], then TF1's bilinear
    resize (align_corners=False, half_pixel_centers=False), which the 2015 graph used.
    """
    x = tf.cast(pixels, tf.float32) / 255.0 * 2.0 - 1.0
    return tf.compat.v1.image.resize_bilinear(x, [IMAGE_SIZE, IMAGE_SIZE], align_corners=False)


def _flatten(tensor):
    return tf.reshape(tensor, [tf.shape(tensor)[0], -1])


def check_local_module(handle: str) -> None:
    """Raises UserError unless `handle` is a URL or a folder that holds a module."""
    if "://" in handle:
        return
    if not os.path.isdir(handle):
        raise UserError("--inception %s does not exist; %s" % (handle, _HOW_TO_GET))
    if not os.path.isfile(os.path.join(handle, "saved_model.pb")):
        raise UserError("--inception %s is not a TF-Hub module folder (no saved_model.pb in it); %s"
                        % (handle, _HOW_TO_GET))


def load_module(handle: str):
    """tensorflow_hub.load(handle) (what tfgan's classifier_fn_from_tfhub calls), with clear errors."""
    import tensorflow_hub as hub

    check_local_module(handle)
    if "://" in handle and not os.environ.get("TFHUB_CACHE_DIR"):
        # tensorflow_hub's own default is /tmp/tfhub_modules, a folder another local user can make
        # first and fill with a module of theirs, which loading would run. It reads only this
        # variable (or an absl flag) for another place.
        os.environ["TFHUB_CACHE_DIR"] = os.path.join(config_lib.user_cache_dir(), "tfhub")
    try:
        return hub.load(handle)
    except (OSError, ValueError, tarfile.TarError, tf.errors.OpError) as e:  # network, download, cache, format
        raise UserError("cannot load the Inception module %s (%s: %s); %s"
                        % (handle, type(e).__name__, str(e).splitlines()[0][:200], _HOW_TO_GET))


_SHA256 = {}  # module folder -> its sha256: hashing the real module's 90 MB once per process is enough


def module_sha256(handle: str) -> str:
    """SHA-256 over a module's files (each file's path within the folder and its bytes, in path
    order): what identifies the weights a figure was computed with. A TF-Hub handle is hashed in
    the folder tensorflow_hub keeps it in (load_module has put it there)."""
    if "://" in handle:
        import tensorflow_hub as hub
        handle = hub.resolve(handle)
    folder = os.path.realpath(handle)
    if folder not in _SHA256:
        digest = hashlib.sha256()
        paths = sorted(os.path.relpath(os.path.join(top, name), folder)
                       for top, _, names in os.walk(folder) for name in names)
        for path in paths:
            digest.update(path.replace(os.sep, "/").encode() + b"\0")
            with open(os.path.join(folder, path), "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        _SHA256[folder] = digest.hexdigest()
    return _SHA256[folder]


class InceptionNetwork:
    """Runs the module on uint8 images in fixed-size batches (static shapes; the last is padded).

    Args:
      handle: tfgan's TF-Hub handle or a local module folder (None: tfgan's default).
      batch: images per module call.
      module: instead of loading `handle`, this callable ([-1, 1] images [N, 299, 299, 3] -> dict
        with LOGITS and POOL), which `handle` then only names.
      replicas: the run's replicas; under a strategy they take the batches in turn.
    """

    def __init__(self, handle: Optional[str] = None, batch: int = BATCH, module=None,
                 replicas: Replicas = Replicas()):
        self.handle = handle or DEFAULT_HANDLE
        self.batch = batch
        module = module or load_module(self.handle)

        @tf.function
        def run(pixels):
            out = module(preprocess(pixels))
            if not isinstance(out, dict) or LOGITS not in out or POOL not in out:
                raise UserError("the Inception module %s returns %s, not a dict with %r and %r: not tfgan's "
                                "Inception module" % (self.handle, type(out).__name__, LOGITS, POOL))
            return _flatten(out[LOGITS]), _flatten(out[POOL])

        self._run = run
        self._run_batches = replicas.batch_runner(run)

    def traced(self, image_shape) -> tf.types.experimental.ConcreteFunction:
        """The graph of one call on a batch of uint8 images of `image_shape` [H, W, 3] (for FLOP counts)."""
        return self._run.get_concrete_function(tf.TensorSpec([self.batch] + list(image_shape), tf.uint8))

    def outputs(self, images: np.ndarray, progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """(logits float32 [N, K], pool_3 float32 [N, 2048]) of uint8 images [N, H, W, 3].

        The outputs are written into arrays of their final size as the batches come: collecting
        the batches and concatenating them would hold every output twice (0.6 GB more at 50000)."""
        n = len(images)
        bar = tf.keras.utils.Progbar(n, unit_name="image") if progress else None
        starts = range(0, n, self.batch)
        batches = ((runtime.pad_batch(images[start:start + self.batch], self.batch),) for start in starts)
        logits = pool = None
        for start, (out_logits, out_pool) in zip(starts, self._run_batches(batches)):
            count = min(self.batch, n - start)
            if logits is None:
                logits = np.empty((n, out_logits.shape[1]), np.float32)
                pool = np.empty((n, out_pool.shape[1]), np.float32)
            logits[start:start + count] = out_logits[:count]
            pool[start:start + count] = out_pool[:count]
            if bar:
                bar.add(count)
        return logits, pool
