"""Parity records: what a short deterministic run computes, iteration by iteration, and a
comparison of two records (e.g. an NPU run against a GPU run) quantity by quantity.

A record holds, per iteration, every training log (loss terms, accuracies, gradient norms,
loss scales, learning rate) and statistics of the generator's output on fixed noise and labels;
plus the device, precision, replica count and software versions. The random inputs need no
record: they are a function of the seed and the iteration (data/pipeline.py).
"""
from __future__ import annotations

import platform
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from splitgan_keras import config as config_lib, files, json_input
from splitgan_keras.errors import UserError

FORMAT = "splitgan-parity/2"
_READABLE = ("splitgan-parity/1", FORMAT)  # /1 also recorded the state of a random generator, now gone
# Sections that must agree for two records to be comparable (runtime and output may differ).
COMPARED_SECTIONS = ("model", "data", "train", "split")
# Default tolerances |a - b| <= atol + rtol * max(|a|, |b|), by the records' precisions.
TOLERANCES = {"fp32": (1e-2, 1e-3), "mixed": (1e-1, 2e-2)}


def _versions(runtime) -> Dict[str, str]:
    import tensorflow as tf  # loaded already when a record is written; --compare does not need it

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__}
    if runtime.adapter_version:
        versions["npu_device"] = runtime.adapter_version
    return versions


def write(path: str, cfg: config_lib.Config, runtime, entries: List[dict]) -> None:
    files.write_json(path, {"format": FORMAT, "device": runtime.device, "device_name": runtime.device_name,
                            "precision": cfg.runtime.precision, "policy": runtime.policy,
                            "replicas": runtime.replicas.count,
                            "versions": _versions(runtime), "config": config_lib.to_dict(cfg), "iterations": entries})


def read(path: str) -> dict:
    record = json_input.read(path, "parity record", max_bytes=256 << 20)
    if not isinstance(record, dict) or record.get("format") not in _READABLE or not record.get("iterations"):
        raise UserError("%s is not a parity record (expected format %s with iterations; write one with "
                        "train.py --parity-record)" % (path, FORMAT))
    return record


def default_tolerances(a: dict, b: dict) -> Tuple[float, float]:
    """(rtol, atol): the looser of the two records' precisions."""
    return max((TOLERANCES[r["precision"]] for r in (a, b)), key=lambda t: t[0])


class Deviation(NamedTuple):
    """How far one quantity of two records is apart over the iterations."""
    quantity: str
    largest: float        # the largest |a - b|
    largest_at: int       # its iteration
    worst_share: float    # the largest |a - b| / tolerance; above 1 exceeds it
    worst_at: int         # its iteration
    passed: bool


def compare(a: dict, b: dict, rtol: Optional[float] = None, atol: Optional[float] = None):
    """Compares two records.

    Returns:
      (rows, notes, ok): a Deviation per quantity, notes (strings worth printing), and whether
      every quantity is within tolerance.
    """
    differing = [s for s in COMPARED_SECTIONS if a["config"].get(s) != b["config"].get(s)]
    if differing:
        raise UserError("the records come from different configurations (sections %s differ); parity needs the "
                        "same model, data and training settings" % ", ".join(differing))
    default_rtol, default_atol = default_tolerances(a, b)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    notes = []
    steps = min(len(a["iterations"]), len(b["iterations"]))
    if len(a["iterations"]) != len(b["iterations"]):
        notes.append("the records have %d and %d iterations; comparing the first %d"
                     % (len(a["iterations"]), len(b["iterations"]), steps))
    keys = [k for k in a["iterations"][0] if k not in ("iteration", "rng_state") and k in b["iterations"][0]]  # rng: /1
    rows, ok = [], True
    at = lambda i: a["iterations"][i]["iteration"]  # noqa: E731 - the iteration number of entry i
    for key in keys:
        x = np.array([e[key] for e in a["iterations"][:steps]], np.float64)
        y = np.array([e[key] for e in b["iterations"][:steps]], np.float64)
        deviation = np.where(np.isnan(x) != np.isnan(y), np.inf, np.abs(x - y))
        deviation = np.where(np.isnan(x) & np.isnan(y), 0.0, deviation)  # both non-finite: they agree
        allowed = atol + rtol * np.nan_to_num(np.maximum(np.abs(x), np.abs(y)))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(deviation == 0, 0.0, deviation / allowed)  # x / 0 -> inf
        largest, worst = int(np.argmax(deviation)), int(np.argmax(share))
        passed = bool(np.all(share <= 1))
        ok &= passed
        rows.append(Deviation(key, float(deviation[largest]), at(largest), float(share[worst]), at(worst), passed))
    return rows, notes, ok


def format_report(path_a: str, a: dict, path_b: str, b: dict, rows, notes, ok: bool) -> str:
    lines = ["%s: %s (%s, %s, %d replica(s), TF %s)" % (name, path, r["device"], r["policy"], r.get("replicas", 1),
                                                       r["versions"]["tensorflow"])
             for name, path, r in (("A", path_a, a), ("B", path_b, b))]
    lines += ["%-22s %12s %5s %16s %5s" % ("quantity", "max |A-B|", "at", "of tolerance", "at")]
    for r in rows:
        lines.append("%-22s %12.4g %5d %15.0f%% %5d  %s" % (r.quantity, r.largest, r.largest_at, 100 * r.worst_share,
                                                            r.worst_at, "ok" if r.passed else "EXCEEDED"))
    lines += ["note: " + n for n in notes]
    lines.append("parity: %s" % ("within tolerance" if ok else "EXCEEDED for %s" % ", ".join(
        r.quantity for r in rows if not r.passed)))
    return "\n".join(lines)
