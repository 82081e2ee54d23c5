"""train.py and eval.py: what each command does with its parsed command line, errors as one line."""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import List, Optional

from splitgan_keras import config as config_lib, config_checks, inception_module, metric_names
from splitgan_keras.cli import flags
from splitgan_keras.errors import INTERRUPTED, CommandEnd, UserError, error_line


def _check_inputs(cfg, args) -> None:
    """What a dry run can check without loading anything: that the files the run would read exist."""
    from splitgan_keras.data import datasets
    datasets.locate(cfg)
    if args.init_from_tf1 and not os.path.isfile(args.init_from_tf1 + ".index"):
        raise UserError("--init-from-tf1 %s: no checkpoint there (expected %s.index and its data file)"
                        % (args.init_from_tf1, args.init_from_tf1))
    _check_inception(cfg)


def _check_inception(cfg) -> None:
    """A local --inception that the run's evaluations will load is a SavedModel folder."""
    needs = metric_names.needed(metric_names.parse_all(cfg.eval.metrics))
    if cfg.eval.every and cfg.eval.inception and metric_names.INCEPTION in needs:
        inception_module.check_folder(cfg.eval.inception)


def sigterm_as_ctrl_c() -> None:
    """SIGTERM raises KeyboardInterrupt for the whole process, as Ctrl-C does, instead of killing
    it: outside the training loop (which stops after its iteration) a signal then ends a command
    through its one-line path, and every write under way removes what it staged."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _interrupted(where: str) -> int:
    print("error: stopped at once by a signal (a second one, or one outside the training loop); nothing partial "
          "was left%s" % where, file=sys.stderr)
    return INTERRUPTED


def main_train(argv: Optional[List[str]] = None) -> int:
    args = flags.train_parser().parse_args(argv)
    resume_hint = ""
    try:
        from splitgan_keras import launch
        from splitgan_keras.artefacts import rundir_lock
        from splitgan_keras.train import session
        if args.parity_record and (args.resume or args.init_from_tf1):
            raise UserError("--parity-record runs from scratch; it cannot be combined with --resume or --init-from-tf1")
        requested = flags.overrides(args)
        resume_hint = ": the newest checkpoint in %s continues with --resume" % config_lib.run_dir_of(requested)
        # The chief of a job writes the run dir and holds its lock from before it decides between a
        # fresh start and a resume. A process that waits for its rank (a secondary by the launcher's
        # variables, which may be stale, or any process of the CM_* launch) decides nothing yet: only
        # the runtime knows, and if it turns out to be the chief it takes the lock then (session.start).
        writes = not args.parity_record and not args.dry_run
        waits = launch.waits_for_rank()
        lock = rundir_lock.RunDirLock(config_lib.run_dir_of(requested))
        try:
            cfg = session.resolve(requested, args.resume, lock if writes and not waits else None)
            _check_inception(cfg)
            if args.dry_run:
                _check_inputs(cfg, args)
                print(json.dumps(config_lib.to_dict(cfg), indent=2, sort_keys=True))
                return 0
            if args.parity_record:
                from splitgan_keras.data import datasets
                from splitgan_keras.parity import recording as parity_recording
                data = datasets.load(cfg)  # before TensorFlow: the common input errors fail fast
                parity_recording.record_parity(cfg, args.parity_record, args.parity_iterations, data)
                return 0
            result = session.start(cfg, lock, args.resume, args.stop_at, args.init_from_tf1)
            return INTERRUPTED if result.interrupted else 0
        finally:
            lock.release()
    except CommandEnd as e:
        print(error_line(e), file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return _interrupted(resume_hint)


def train_command() -> None:
    """train.py and `splitgan-train`: main_train's status as the process's exit status."""
    from splitgan_keras import launch
    sigterm_as_ctrl_c()
    sys.exit(launch.end_process(main_train()))


def main_eval(argv: Optional[List[str]] = None) -> int:
    parser = flags.eval_parser()
    args = parser.parse_args(argv)
    try:
        job = flags.eval_job(args)
        if not args.compare and not job.path and job.needs_path():
            parser.error("give a PATH to evaluate (a run dir, checkpoint or export), --real with --dataset, "
                         "or --compare A B")
        if job.path and not job.has_work():
            parser.error("nothing to do: ask for --metrics, --grid, --samples/--out or --export-to")
        if args.compare:
            from splitgan_keras.parity import records as parity_records
            a, b = (parity_records.read(path) for path in args.compare)
            rows, notes, ok = parity_records.compare(a, b, args.rtol, args.atol)
            print(parity_records.format_report(args.compare[0], a, args.compare[1], b, rows, notes, ok))
            return 0 if ok else 1
        config_checks.validate_evaluation(job)
        from splitgan_keras.evaluate import evaluation
        evaluation.evaluate(job)
    except CommandEnd as e:
        print(error_line(e), file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return _interrupted("")
    return 0


def eval_command() -> None:
    """eval.py and `splitgan-eval`: main_eval's status as the process's exit status."""
    sigterm_as_ctrl_c()
    sys.exit(main_eval())
