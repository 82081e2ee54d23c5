"""The Inception network of tensorflow-gan's metrics: loading it, and running it on images.

The network is tfgan's TF-Hub module (tfgan.eval.INCEPTION_TFHUB, the 2015 Inception graph the
OpenAI Inception Score uses), or a local copy of it for offline machines. It takes [-1, 1] images
of 299x299 and returns `logits` [N, 1008] and `pool_3` [N, 2048].
"""
from __future__ import annotations

import os
import tarfile
import warnings
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import config as config_lib, runtime
from splitgan_keras.errors import UserError, shown
from splitgan_keras import inception_module
from splitgan_keras.evaluate.metrics.progress import Progress
from splitgan_keras.replicas import Replicas

# tfgan.eval's INCEPTION_TFHUB, INCEPTION_OUTPUT, INCEPTION_FINAL_POOL and INCEPTION_DEFAULT_IMAGE_SIZE (a test
# checks them where tensorflow-gan imports; it cannot on TF >= 2.16).
DEFAULT_HANDLE = inception_module.TFGAN_HANDLE
LOGITS, POOL = "logits", "pool_3"
IMAGE_SIZE = 299
LOGIT_CLASSES, POOL_FEATURES = 1008, 2048  # what the 2015 graph returns per image
BATCH = 100  # the original's Inception Score batch


# What preprocess does, in words: the protocols state it, and it keys the cached real features (a change of it must
# not reuse features computed the old way).
PREPROCESSING = ("uint8 -> [-1, 1], then tf.compat.v1.image.resize_bilinear to %dx%d (align_corners=False), as the "
                 "2015 graph of the OpenAI Inception Score" % (IMAGE_SIZE, IMAGE_SIZE))


def preprocess(pixels):
    """uint8 [N, H, W, 3] -> float32 [N, 299, 299, 3] in [-1, 1].

    As the common tfgan port of the OpenAI score does: scale to [-1, 1], then TF1's bilinear
    resize (align_corners=False, half_pixel_centers=False), which the 2015 graph used.
    """
    x = tf.cast(pixels, tf.float32) / 255.0 * 2.0 - 1.0
    return tf.compat.v1.image.resize_bilinear(x, [IMAGE_SIZE, IMAGE_SIZE], align_corners=False)


def _flatten(tensor):
    return tf.reshape(tensor, [tf.shape(tensor)[0], -1])


def _hub():
    """tensorflow_hub, imported on first use. Its import of pkg_resources warns that pkg_resources is deprecated
    (setuptools 80): a warning about tensorflow_hub's own code that a user can do nothing about, so not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import tensorflow_hub
    return tensorflow_hub


def load_module(handle: str):
    """tensorflow_hub.load(handle) (what tfgan's classifier_fn_from_tfhub calls), with clear errors."""
    hub = _hub()
    inception_module.check_folder(handle)
    if "://" in handle and not os.environ.get("TFHUB_CACHE_DIR"):
        # tensorflow_hub's own default is /tmp/tfhub_modules, a folder another local user can make
        # first and fill with a module of theirs, which loading would run. It reads only this
        # variable (or an absl flag) for another place.
        os.environ["TFHUB_CACHE_DIR"] = os.path.join(config_lib.user_cache_dir(), "tfhub")
    try:
        return hub.load(handle)
    except (OSError, ValueError, tarfile.TarError, tf.errors.OpError) as e:  # network, download, cache, format
        raise UserError("cannot load the Inception module %s (%s: %s); %s"
                        % (handle, type(e).__name__, str(e).splitlines()[0][:200], inception_module.HOW_TO_GET))


def module_folder(handle: str) -> str:
    """The folder a module is loaded from: `handle`, or for a TF-Hub URL the folder tensorflow_hub keeps it in."""
    return handle if "://" not in handle else _hub().resolve(handle)


def check_interface(module, handle: str) -> None:
    """Raises UserError unless `module` takes float32 images [N, 299, 299, 3] and returns a dict with LOGITS of
    1008 and POOL of 2048 values per image, as tfgan's Inception module does. Traced, not run, where the shapes
    are static; run once on two blank images where they are not. Outside any tf.function, so that a refusal is
    its own line, not an autograph trace."""
    where = "the Inception module %s" % handle
    if not callable(module):
        raise UserError("%s cannot be called (a SavedModel of %s without __call__): not an Inception module"
                        % (where, type(module).__name__))
    images = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)
    try:
        traced = tf.function(module, autograph=False).get_concrete_function(images)
    except (TypeError, ValueError) as e:  # a signature of other shapes or types
        raise UserError("%s does not take float32 images [N, %d, %d, 3] (%s)"
                        % (where, IMAGE_SIZE, IMAGE_SIZE, str(e).strip().splitlines()[0][:200]))
    out = traced.structured_outputs
    if not isinstance(out, dict) or LOGITS not in out or POOL not in out:
        what = ("a dict of %s" % shown(", ".join(map(repr, sorted(out))), quote=False) if isinstance(out, dict)
                else "a tensor" if tf.is_tensor(out) else type(out).__name__)
        raise UserError("%s returns %s, not a dict with %r and %r: not tfgan's Inception module"
                        % (where, what, LOGITS, POOL))
    shapes = {key: out[key].shape[1:].num_elements() for key in (LOGITS, POOL)}
    if None in shapes.values():
        try:
            ran = traced(tf.zeros([2, IMAGE_SIZE, IMAGE_SIZE, 3]))
        except tf.errors.OpError as e:
            raise UserError("%s fails on two blank images (%s: %s)"
                            % (where, type(e).__name__, str(e).strip().splitlines()[0][:200]))
        shapes = {key: int(np.prod(ran[key].shape[1:])) for key in (LOGITS, POOL)}
    for key, size in ((LOGITS, LOGIT_CLASSES), (POOL, POOL_FEATURES)):
        if shapes[key] != size:
            raise UserError("%s returns %d %r values per image; tfgan's Inception module returns %d"
                            % (where, shapes[key], key, size))


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
        if module is None:
            module = load_module(self.handle)
            check_interface(module, self.handle)
            self.sha256 = inception_module.module_sha256(module_folder(self.handle))
        else:
            self.sha256 = None  # a callable given in code has no files to hash

        @tf.function
        def run(pixels):
            out = module(preprocess(pixels))
            return _flatten(out[LOGITS]), _flatten(out[POOL])

        self._run = run
        self._run_batches = replicas.batch_runner(run)

    def identity(self) -> dict:
        """What the module is, for protocols: {"network", "module", "sha256"}."""
        name = inception_module.name(self.sha256) if self.sha256 else "a callable given in code"
        return {"network": name, "module": self.handle, "sha256": self.sha256}

    def summary(self) -> str:
        """One line for people: which module computes the figures."""
        return inception_module.summary(self.handle, module_folder(self.handle)) if self.sha256 else (
            "Inception module: a callable given in code")

    def traced(self, image_shape) -> tf.types.experimental.ConcreteFunction:
        """The graph of one call on a batch of uint8 images of `image_shape` [H, W, 3] (for FLOP counts)."""
        return self._run.get_concrete_function(tf.TensorSpec([self.batch] + list(image_shape), tf.uint8))

    def outputs(self, images: np.ndarray, progress: str = "") -> Tuple[np.ndarray, np.ndarray]:
        """(logits float32 [N, K], pool_3 float32 [N, 2048]) of uint8 images [N, H, W, 3]; `progress` says what
        the pass is for its progress lines ("": none).

        The outputs are written into arrays of their final size as the batches come: collecting
        the batches and concatenating them would hold every output twice (0.6 GB more at 50000)."""
        n = len(images)
        bar = Progress(progress, n, bool(progress))
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
            bar.add(count)
        return logits, pool
