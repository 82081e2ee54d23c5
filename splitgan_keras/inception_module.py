"""Which Inception module computes a figure: a folder checked before TensorFlow loads it, and a
module named by what it is (the SHA-256 of its files), never by what it is asked to be.

Without TensorFlow, so that train.py and eval.py check --inception before TensorFlow starts.
A figure is labelled "tfgan's Inception module" only when its module's hash is in KNOWN_MODULES;
docs/evaluation.md#which-inception-module says how to check a module and add its hash.
"""
from __future__ import annotations

import os
import stat
from typing import Dict

from splitgan_keras import files
from splitgan_keras.errors import UserError, shown

TFGAN_HANDLE = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"  # tfgan.eval.INCEPTION_TFHUB (a test checks)
HOW_TO_GET = ("on a machine with network, download %s?tf-hub-format=compressed, extract the archive and pass its "
              "folder with --inception DIR" % TFGAN_HANDLE)

# module_sha256 of the modules known to be tfgan's, each with how it was obtained. Empty so far: the machines this
# project was built on have no network to fetch the module, and a hash is added only from a module fetched from
# TFGAN_HANDLE (docs/evaluation.md#which-inception-module).
KNOWN_MODULES: Dict[str, str] = {}
TFGAN_NAME = "tfgan's Inception module (tfgan.eval.INCEPTION_TFHUB)"
UNKNOWN_NAME = "an Inception-shaped module not known to be tfgan's"

# A module folder is read whole to hash it: tfgan's is about 90 MB in 3 files. Bound what a folder given by path
# can make us read.
MAX_FILES = 1000
MAX_BYTES = 4 << 30


def check_folder(handle: str, flag: str = "--inception") -> None:
    """Raises UserError unless `handle` is a URL or a folder that holds a SavedModel (saved_model.pb)."""
    if "://" in handle:
        return
    if not os.path.exists(handle):
        raise UserError("%s %s does not exist; %s" % (flag, shown(handle, quote=False), HOW_TO_GET))
    if not os.path.isdir(handle):
        raise UserError("%s %s is a file, not a SavedModel folder (a TF-Hub module is a folder with saved_model.pb "
                        "and variables/); %s" % (flag, shown(handle, quote=False), HOW_TO_GET))
    graph = os.path.join(handle, "saved_model.pb")
    if not os.path.isfile(graph):
        raise UserError("%s %s is not a SavedModel folder (no saved_model.pb in it); %s"
                        % (flag, shown(handle, quote=False), HOW_TO_GET))


_SHA256: Dict[str, str] = {}  # module folder -> its sha256: hashing the real module's 90 MB once per process is enough


def module_sha256(folder: str) -> str:
    """SHA-256 over a module folder's files (each file's path within the folder, a NUL, and its bytes, in path
    order): what identifies the weights a figure was computed with. Links are not followed out of the folder."""
    folder = os.path.realpath(folder)
    if folder not in _SHA256:
        paths = files.tree_files(folder)
        if len(paths) > MAX_FILES:
            raise UserError("the Inception module %s holds %d files; a SavedModel holds a few (at most %d read)"
                            % (shown(folder, quote=False), len(paths), MAX_FILES))
        for path in paths:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise UserError("the Inception module %s holds %s, which is not a regular file (a link or a device)"
                                % (shown(folder, quote=False), shown(os.path.relpath(path, folder))))
        if sum(os.path.getsize(path) for path in paths) > MAX_BYTES:
            raise UserError("the Inception module %s holds more than %d GiB; tfgan's holds about 90 MB"
                            % (shown(folder, quote=False), MAX_BYTES >> 30))
        _SHA256[folder] = files.content_sha256(paths, folder)
    return _SHA256[folder]


def name(sha256: str) -> str:
    """What a module with this hash is, for figures: tfgan's where KNOWN_MODULES says so."""
    return TFGAN_NAME if sha256 in KNOWN_MODULES else UNKNOWN_NAME


def summary(handle: str, folder: str) -> str:
    """One line for people: which module computes the figures."""
    sha256 = module_sha256(folder)
    text = "Inception module %s (SHA-256 %s): %s" % (handle, sha256[:16], name(sha256))
    if sha256 not in KNOWN_MODULES:
        text += "; its figures compare only with figures of the same module"
    return text


def main(argv=None) -> int:
    """python -m splitgan_keras.inception_module DIR: prints the folder's SHA-256 and name."""
    import sys
    folders = sys.argv[1:] if argv is None else argv
    if not folders:
        print("usage: python -m splitgan_keras.inception_module DIR...", file=sys.stderr)
        return 2
    for folder in folders:
        try:
            check_folder(folder, "DIR")
            print("%s  %s: %s" % (module_sha256(folder), folder, name(module_sha256(folder))))
        except UserError as e:
            print("error: %s" % e, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
