"""docs/options.md, written from the config table and the two command lines' own options:

    python -m splitgan_keras.cli.options_page > docs/options.md

tests/test_docs.py fails when the page differs from what this writes, so it never goes stale.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import List

from splitgan_keras import config as config_lib, config_checks
from splitgan_keras.cli import flags
from splitgan_keras.eval_job import RUN_KEYS, EvalJob

_INTRO = """# Options

Generated from the config table (`splitgan_keras/config.py`) by `python -m splitgan_keras.cli.options_page`;
`python train.py --help` and `python eval.py --help` say the same.

A run's settings come from the defaults (the original's values), then `--config FILE`, then `--set KEY=VALUE`
(repeatable; the value is read as JSON, else as text), then the flags. A config file is JSON with one object per
section that holds only the keys it changes (see `configs/`); unknown keys, wrong types and values outside the
range below are one-line errors. `--dry-run` prints the resolved configuration. A resumed run keeps its saved
settings except the sections %s.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _allowed(field, tp) -> str:
    if field.metadata["choices"]:
        return ", ".join("`%s`" % c for c in field.metadata["choices"])
    limits = field.metadata["limits"]
    name = flags.value_name(tp, field.name)
    if limits:
        least, most = (config_checks.format_number(limit) for limit in limits)
        return "%s in %s..%s" % (name, least, most)
    return {"N": "whole number", "X": "number", "A,B,...": "list"}.get(name, "on/off" if tp is bool else "text")


def _settings_table(section_type, prefix: str, keys=None, defaults=None) -> List[str]:
    """A row per setting of a section (of those named in `keys`, if given; `defaults`: a command's
    own defaults of some), skipping the sections an EvalJob holds."""
    rows = ["| key | flag | default | allowed | meaning |", "|---|---|---|---|---|"]
    for field, tp in config_lib.fields(section_type):
        if _is_section(tp) or (keys is not None and prefix + field.name not in keys):
            continue
        names = ", ".join("`%s`" % f for f in field.metadata["flags"])
        default = (defaults or {}).get(prefix + field.name, field.default)
        rows.append("| `%s%s` | %s | `%s` | %s | %s |" % (
            prefix, field.name, names, flags.default_text(default), _allowed(field, tp),
            _cell(field.metadata["help"])))
    return rows


def _is_section(tp) -> bool:
    """A section type, or Optional[one] (EvalJob.data)."""
    return dataclasses.is_dataclass(tp) or any(dataclasses.is_dataclass(a) for a in getattr(tp, "__args__", ()))


def _command_table(options) -> List[str]:
    rows = ["| option | meaning |", "|---|---|"]
    for names, keywords in options:
        metavar = keywords.get("metavar")
        value = " ".join(metavar) if isinstance(metavar, tuple) else (metavar or "")
        rows.append("| `%s` | %s |" % ((" ".join(names) + " " + value).strip(), _cell(keywords["help"])))
    return rows


def render() -> str:
    """The whole page (Markdown)."""
    lines = [_INTRO % ", ".join("`%s`" % s for s in config_lib.RESUMABLE_SECTIONS), "## train.py", "",
             "What a command does (not kept in the run's `config.json`):", ""]
    lines += _command_table(flags.TRAIN_COMMAND_OPTIONS)
    for section, section_type in config_lib.sections():
        lines += ["", "### `%s`" % section, ""] + _settings_table(section_type, section + ".")
    lines += ["", "## eval.py", "", "`python eval.py PATH ...`: PATH is a run dir, a checkpoint, an export or a "
              "TF1 checkpoint.", ""]
    lines += _settings_table(EvalJob, "")
    lines += ["", "The run's settings that eval.py takes too (for a PATH without a run config, `--dataset` and "
              "`--data-dir` name the training set; else the run's is used):", ""]
    for section, section_type in config_lib.sections():
        lines += _settings_table(section_type, section + ".", RUN_KEYS, flags.EVAL_DEFAULTS)[
            0 if section == "data" else 2:]
    lines += ["", "Instead of a PATH:", ""] + _command_table(flags.EVAL_COMMAND_OPTIONS)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
