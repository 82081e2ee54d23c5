"""python -m splitgan_keras.experiments ablation [--config FILE] [--seeds 0,1,2] [--out DIR] ..."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from splitgan_keras.cli import flags
from splitgan_keras.errors import CommandEnd, UserError, error_line
from splitgan_keras.experiments import ablation, report


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m splitgan_keras.experiments",
                                  description="Experiments made of whole training runs (docs/ablation.md).")
    commands = top.add_subparsers(dest="command", required=True)
    command = commands.add_parser(
        "ablation", help="no split against split against the oracle (and split with a moving average), on the "
                         "built-in dataset, supervised or unsupervised (configs/quickstart_unsupervised.json)",
        description="Trains every condition (no_split, split, oracle, split_ema) for every seed under one budget and "
                    "writes OUT/ablation.json, ablation.md (the table) and ablation.png (the figures over training); "
                    "the final classes are scored against the 20 hidden groups. "
                    "Run it again to continue an interrupted ablation.")
    command.add_argument("--config", default="configs/quickstart.json",
                         help="the budget: a config with a split schedule (default: configs/quickstart.json)")
    command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="a config override for every run, as train.py's --set (repeatable)")
    command.add_argument("--seeds", type=flags.list_parser(int), default=[0, 1, 2], metavar="A,B,...",
                         help="training seeds (default: 0,1,2)")
    command.add_argument("--eval-every", type=int, default=100, metavar="N",
                         help="iterations between evaluations; must divide the budget's iterations (default: 100)")
    command.add_argument("--fid-samples", type=int, default=2000, metavar="N",
                         help="samples (and training images) of the built-in FID (default: 2000)")
    command.add_argument("--conditions", type=flags.list_parser(str), default=list(ablation.CONDITIONS),
                         metavar="A,B,...", help="which conditions (default: %s)" % ",".join(ablation.CONDITIONS))
    command.add_argument("--ema-decay", type=float, default=0.99, metavar="X",
                         help="the moving average's decay per generator step in split_ema (default: 0.99)")
    command.add_argument("--out", default="runs/ablation",
                         help="where the runs and the results go (default: runs/ablation)")
    return top


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.eval_every < 1 or args.fid_samples < 2:
            raise UserError("--eval-every must be at least 1 and --fid-samples at least 2, got %d and %d"
                            % (args.eval_every, args.fid_samples))
        budget = ablation.Budget(args.config, tuple(args.set), args.eval_every, args.fid_samples, args.ema_decay)
        results = ablation.run_ablation(budget, args.seeds, args.out, args.conditions)
        paths = report.write(results, args.out)
    except CommandEnd as e:
        print(error_line(e), file=sys.stderr)
        return e.exit_status
    print(report.table(results))
    print("written: %s" % ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
