"""What the ablation writes: ablation.json, a Markdown table and ablation.png (the figures over training)."""
from __future__ import annotations

import io
import os
from typing import Dict, Optional

import numpy as np

from splitgan_keras import files
from splitgan_keras.experiments import ablation

_PLOTTED = (  # figure, what the table and the plot call it, as a percentage (else plotted on a log scale)
    (ablation.COLOUR, "class colour", True),
    (ablation.SUBCLASS, "sub-class", True),
    (ablation.FID, "built-in FID (lower is better)", False),
)
_TABLE = _PLOTTED + ((ablation.FID_SECOND_HALF, "built-in FID, mean over the 2nd half", False),
                     (ablation.GROUPS_ARI, "classes vs the 20 hidden groups (ARI)", None))


def _cell(summary: Dict[str, Dict[str, float]], figure: str, percent: Optional[bool]) -> str:
    """mean +- std: as a percentage, with four decimals, or (percent None: an index in [-1, 1]) with three."""
    if figure not in summary:
        return "n/a"
    scale = 100.0 if percent else 1.0
    text = "%.1f%% +- %.1f" if percent else ("%.3f +- %.3f" if percent is None else "%.4f +- %.4f")
    return text % (scale * summary[figure]["mean"], scale * summary[figure]["std"])


def table(results: Dict) -> str:
    """A Markdown table of the final figures, mean +- standard deviation over the seeds."""
    lines = ["| condition | " + " | ".join(name for _, name, _ in _TABLE) + " |", "|---" * (len(_TABLE) + 1) + "|"]
    for condition, entry in results["conditions"].items():
        lines.append("| %s | %s |" % (condition, " | ".join(_cell(entry["final"], f, p) for f, _, p in _TABLE)))
    return "\n".join(lines)


def plot(results: Dict) -> bytes:
    """One panel per figure over the iterations: every condition's mean over the seeds, with a band
    of +- one standard deviation; the split iterations dashed; figures that are not percentages on a
    log scale. Returns the PNG file's bytes."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on a server
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, len(_PLOTTED), figsize=(5 * len(_PLOTTED), 3.6))
    for axis, (name, title, percent) in zip(axes, _PLOTTED):
        for number, (condition, entry) in enumerate(results["conditions"].items()):
            colour = "C%d" % number  # one colour per condition in every panel, whichever curves a panel has
            curves = [dict(r["curves"][name]) for r in entry["runs"] if r["curves"][name]]
            if not curves:
                continue
            steps = sorted(set.intersection(*(set(c) for c in curves)))
            values = np.array([[c[s] for s in steps] for c in curves]) * (100 if percent else 1)
            mean, std = values.mean(0), values.std(0)
            axis.plot(steps, mean, color=colour, label=condition)
            axis.fill_between(steps, mean - std, mean + std, color=colour, alpha=0.2)
        for split in results["budget"]["split_at"]:
            axis.axvline(split + 1, color="grey", linestyle="--", linewidth=0.8)
        if not percent:  # the FID falls by more than ten times: a linear axis hides the conditions' late gaps
            axis.set_yscale("log")
        axis.set_title(title + (" (%)" if percent else ", log scale"))
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle("%s, %d seeds, mean +- std" % (results["budget"]["config"], len(results["seeds"])))
    figure.tight_layout()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100)
    pyplot.close(figure)
    return png.getvalue()


def write(results: Dict, out_dir: str) -> Dict[str, str]:
    """ablation.json, ablation.md and ablation.png in out_dir, each written whole; returns their paths."""
    paths = {kind: os.path.join(out_dir, "ablation." + kind) for kind in ("json", "md", "png")}
    files.write_json(paths["json"], results)
    files.write_bytes(paths["md"], (table(results) + "\n").encode())
    files.write_bytes(paths["png"], plot(results))
    return paths
