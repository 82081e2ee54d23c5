"""The parsers of train.py and eval.py, generated from the config table (config.py), and the
configuration a parsed command line asks for."""
from __future__ import annotations

import argparse
import difflib
import json
import re
import typing
from typing import Any, Collection, Dict, List, Optional

from splitgan_keras import config as config_lib, dataset_names
from splitgan_keras.errors import UserError, one_line, shown
from splitgan_keras.eval_job import RUN_KEYS, EvalJob


def list_parser(element_type):
    def parse(text: str):
        try:
            return [element_type(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError("expected a comma-separated list of %s, got %s"
                                             % (element_type.__name__, shown(text)))
    return parse


def _argparse_type(tp):
    args = getattr(tp, "__args__", ())
    if getattr(tp, "__origin__", None) is typing.Union:
        tp = next(a for a in args if a is not type(None))
    if getattr(tp, "__origin__", None) in (tuple, typing.Tuple):
        return list_parser(tp.__args__[0])
    return tp


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and a hint, not the whole usage text, and which
    takes no abbreviation of an option (--metric is not silently --metrics)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        hint = ""
        for typo in re.findall(r"(--?[\w-]+)", message.split(":", 1)[-1]) if "unrecognized" in message else ():
            close = difflib.get_close_matches(typo, [o for a in self._actions for o in a.option_strings], n=1)
            if close:
                hint = " (did you mean %s?)" % close[0]
                break
        self.exit(2, "%s: error: %s%s (%s --help lists every option)\n"
                  % (self.prog, one_line(message), hint, self.prog))


def default_text(value) -> str:
    """How --help and docs/options.md show a default."""
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def value_name(tp, name: str) -> str:
    """How --help names the value of a setting of type `tp` (N, X, A,B,... or the NAME)."""
    if getattr(tp, "__origin__", None) is typing.Union:  # Optional[X] -> X
        tp = next(a for a in tp.__args__ if a is not type(None))
    if getattr(tp, "__origin__", None) in (tuple, typing.Tuple):
        return "A,B,..."
    return {int: "N", float: "X"}.get(tp, name.upper())


def _add_flags(parser, section_type, prefix: str = "",
               keys: Optional[Collection[str]] = None, defaults: Optional[Dict[str, Any]] = None) -> None:
    """A flag for every field of a config dataclass that has one (of those named in `keys`, if
    given); the value lands in `prefix + name` and only when given (defaults stay the dataclass's;
    `defaults` names a tool's own, which --help shows and the tool applies below the overrides)."""
    defaults = defaults or {}
    for f, tp in config_lib.fields(section_type):
        flags = f.metadata.get("flags")  # None: a section (EvalJob.eval)
        if not flags or (keys is not None and prefix + f.name not in keys):
            continue
        help_text = f.metadata["help"]
        if prefix + f.name in defaults:
            help_text += " (default here: %s)" % default_text(defaults[prefix + f.name])
        elif "(default:" not in help_text:  # some say what "none" means
            help_text += " (default: %s)" % default_text(f.default)
        if tp is bool:
            parser.add_argument(*flags, dest=prefix + f.name, action="store_true", default=argparse.SUPPRESS,
                                help=help_text)
        else:
            metavar = f.metadata["metavar"] or (None if f.metadata["choices"] else value_name(tp, f.name))
            parser.add_argument(*flags, dest=prefix + f.name, type=_argparse_type(tp), choices=f.metadata["choices"],
                                metavar=metavar, default=argparse.SUPPRESS, help=help_text)


def add_config_flags(parser: argparse.ArgumentParser, keys: Optional[Collection[str]] = None,
                     defaults: Optional[Dict[str, Any]] = None) -> None:
    """The flags of the run's settings (of those named in `keys`, e.g. "model.width", if given;
    `defaults`: a tool's own defaults of some, for --help: the tool puts them below `overrides`),
    and --config and --set, which reach every setting; `overrides` reads what they ask for."""
    for flags, keywords in TRAIN_COMMAND_OPTIONS:
        if flags[0] in ("--config", "--set"):
            parser.add_argument(*flags, **keywords)
    for section, section_type in config_lib.sections():  # --help lists them by section (empty ones are left out)
        group = parser.add_argument_group("%s settings (config section %r)" % (section, section))
        _add_flags(group, section_type, section + ".", keys, defaults)


# train.py's options that are not settings of the run (config.json does not keep them): (flags,
# argparse keywords). The settings' flags come from the config table.
TRAIN_COMMAND_OPTIONS = [
    (("--config",), dict(metavar="FILE", help="JSON file of config sections with the keys to change")),
    (("--set",), dict(metavar="KEY=VALUE", action="append", default=[],
                      help="change any config key, e.g. --set train.gp_weight=5 (repeatable)")),
    (("--resume",), dict(action="store_true", help="continue the run in --run-dir from its latest checkpoint")),
    (("--stop-at",), dict(type=int, metavar="N", help="end this session after N completed iterations; the "
                                                       "learning-rate schedule still spans --iterations and --resume "
                                                       "continues")),
    (("--init-from-tf1",), dict(metavar="CKPT", help="start a new run from a checkpoint of the original TF1 code "
                                                     "(e.g. logs/model_best-12000)")),
    (("--parity-record",), dict(metavar="FILE", help="instead of training: run --parity-iterations deterministic "
                                                     "iterations from scratch and write what they compute to FILE "
                                                     "(compare two with eval.py --compare A B)")),
    (("--parity-iterations",), dict(type=int, default=10, metavar="N",
                                    help="iterations of a --parity-record run (default: 10)")),
    (("--dry-run",), dict(action="store_true", help="print the resolved configuration and exit")),
]

# eval.py's defaults of the run's settings it takes (config.RUN_KEYS), as --help shows them.
EVAL_DEFAULTS = {"data.dataset": "the run's"}

# eval.py's options beside those of its EvalJob.
EVAL_COMMAND_OPTIONS = [
    (("--compare",), dict(nargs=2, metavar=("A", "B"),
                          help="instead: compare two parity records (train.py --parity-record) quantity by quantity; "
                               "exit 1 when a deviation exceeds its tolerance")),
    (("--rtol",), dict(type=float, help="relative tolerance for --compare (default by precision: fp32 1e-2, mixed "
                                        "1e-1)")),
    (("--atol",), dict(type=float, help="absolute tolerance for --compare (default: fp32 1e-3, mixed 2e-2)")),
]


def train_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="train.py", description="Train Class-Splitting GAN (see README.md). Precedence: defaults, then "
                                     "--config FILE, then --set, then the flags below.")
    for flags, keywords in TRAIN_COMMAND_OPTIONS:
        if flags[0] not in ("--config", "--set"):  # those come with the settings' flags
            parser.add_argument(*flags, **keywords)
    add_config_flags(parser)
    return parser


def set_overrides(items: List[str]) -> Dict[str, Any]:
    """{key: value} of --set KEY=VALUE items (the value read as JSON, else as text)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise UserError("--set %s: expected KEY=VALUE, e.g. --set train.gp_weight=5" % item)
        try:
            values[key.strip()] = json.loads(text)
        except ValueError:
            values[key.strip()] = text
    return values


def overrides(args: argparse.Namespace):
    """The config changes a command line asks for, as config.Overrides (lowest precedence first)."""
    result = []
    if args.config:
        result.append(("config file %s" % args.config, config_lib.read_json(args.config)))
    set_values = set_overrides(args.set) if args.set else {}
    if set_values:
        result.append(("--set", set_values))
    flags = {k: v for k, v in vars(args).items() if "." in k}
    flags = {k: tuple(v) if isinstance(v, list) else v for k, v in flags.items()}
    for key in sorted(set(set_values) & set(flags)):
        if config_lib.with_overrides(config_lib.Config(), {key: set_values[key]}, "--set") != \
                config_lib.with_overrides(config_lib.Config(), {key: flags[key]}, "the command line"):
            raise UserError("--set %s=%s and %s %s both set %s; give it once"
                            % (key, shown(set_values[key]), config_lib.describe(key).split(" ")[0], shown(flags[key]),
                               key))
    if flags:
        result.append(("command line", flags))
    return result


def eval_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eval.py", description="Evaluate a Class-Splitting GAN: metrics, sample grids, samples, export; or "
                                    "compare two parity records (see README.md). --dataset and --data-dir name the "
                                    "training set where PATH has no run config (an export, a TF1 checkpoint).")
    path = next(f for f, _ in config_lib.fields(EvalJob) if f.name == "path")
    parser.add_argument("path", nargs="?", default=argparse.SUPPRESS, help=path.metadata["help"])
    _add_flags(parser, EvalJob)
    group = parser.add_argument_group("the run's settings (where PATH has no run config, or to override it)")
    for section, section_type in config_lib.sections():
        _add_flags(group, section_type, section + ".", RUN_KEYS, EVAL_DEFAULTS)
    for flags, keywords in EVAL_COMMAND_OPTIONS:
        parser.add_argument(*flags, **keywords)
    return parser


def eval_job(args: argparse.Namespace) -> EvalJob:
    """The EvalJob an eval.py command line asks for."""
    names = {f.name for f, _ in config_lib.fields(EvalJob)}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items() if k in names}
    sections = {k: v for k, v in vars(args).items() if k in RUN_KEYS}
    if "data.data_dir" in sections and "data.dataset" not in sections:
        raise UserError("--data-dir %s needs --dataset (%s)" % (
            sections["data.data_dir"], " or ".join(spec.name for spec in dataset_names.reading_files())))
    run_settings = config_lib.with_overrides(config_lib.Config(), sections, "eval.py flags")
    return EvalJob(**given, data=run_settings.data if "data.dataset" in sections else None,
                                     eval=run_settings.eval)
