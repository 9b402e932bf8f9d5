"""Command line for runs in the store and on the queue.

    python -m worker submit --preset vgg38-bn-rc --lr 1e-2 --epochs 100 [--name N --group G --tag T --seeds N]
    python -m worker list
    python -m worker show RUN_ID [--json]
    python -m worker cancel RUN_ID
    python -m worker resume RUN_ID
    python -m worker export RUN_ID --out DIR     (epochs.csv, gradients.csv, signals.csv, run.json)
    python -m worker worker [--burst]            (the Procfile's worker line; one per GPU)
    python -m worker reconcile                   (one pass: dead runs interrupted, lost jobs queued again)
    python -m worker migrate                     (alembic upgrade head on DATABASE_URL)
    python -m worker import PATH... [--group G]  (run folders into finished runs; course-framework
                                                  folders with --preset P --lr LR [--epochs N
                                                  --continued-from K[,K2...] --schedule iteration])

Bad input exits 2 and an unreachable service exits 1, each with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from vgp_models.cli_options import OneLineArgumentParser, add_run_arguments, config_from_args
from vgp_models.config import PRESETS, SCHEDULES, ConfigError
from vgp_models.course_folder import CourseOptions
from worker import cancellation, connection, db, importer, reconcile, rq_jobs, runner, schema, store, submission
from worker.settings import check_environment

PROG = "python -m worker"


def run_id(text: str) -> int:
    """argparse type of a run id: an int the database's ids can hold (1..2**31-1), else one usage line."""
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
    if not rq_jobs.is_id(value):
        raise argparse.ArgumentTypeError(f"a run id is a whole number from 1 to {rq_jobs.MAX_ID}, got {text[:40]!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog=PROG, description="VGP Lab runs: submit, inspect, export, work the queue.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineArgumentParser)

    submit = commands.add_parser("submit", help="queue a training run; prints its id")
    add_run_arguments(submit)
    submit.add_argument("--name", help="a human name (default: the config's label, e.g. 'VGG38 BN+RC')")
    submit.add_argument("--group", help="group runs for comparison")
    submit.add_argument("--tag", action="append", default=[], dest="tags", help="a tag (repeatable)")
    submit.add_argument("--note", default="", help="free text kept with the run")
    submit.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="queue N runs that differ only in seed (--seed, +1, ...) as one group; prints each id",
    )

    commands.add_parser("list", help="all runs, newest first")

    show = commands.add_parser("show", help="a run's status and latest metrics")
    show.add_argument("run_id", type=run_id)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    for name, text in (("cancel", "cancel a queued or running run"), ("resume", "queue a stopped run again")):
        commands.add_parser(name, help=text).add_argument("run_id", type=run_id)

    export = commands.add_parser("export", help="write epochs.csv, gradients.csv, signals.csv and run.json")
    export.add_argument("run_id", type=run_id)
    export.add_argument("--out", required=True, type=Path, help="folder to write into (created if needed)")

    work = commands.add_parser("worker", help="work the run queue (forking: one process per run)")
    work.add_argument("--burst", action="store_true", help="stop when the queue is empty")

    commands.add_parser("reconcile", help="bring the queue in step with the database once (workers do it every 10 s)")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")

    imports = commands.add_parser("import", help="turn run folders (or folders of them) into finished runs")
    imports.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    imports.add_argument("--group", help="put the imported runs in this group")
    imports.add_argument("--preset", choices=sorted(PRESETS), help="what a course-framework folder ran")
    imports.add_argument("--lr", type=float, help="the learning rate of a course-framework folder")
    imports.add_argument("--epochs", type=int, help="the epochs a course-framework run was given (--num_epochs)")
    imports.add_argument(
        "--continued-from",
        type=epoch_list,
        default=(),
        metavar="K[,K2...]",
        help="each --continue_from_epoch K the course-framework run was continued with, in order (needs --epochs)",
    )
    imports.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="epoch",
        help="iteration: the 2023-25 framework's cosine, stepped every batch",
    )
    return parser


def epoch_list(text: str) -> tuple[int, ...]:
    """'35,77' -> (35, 77): the --continued-from points."""
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"epochs separated by commas expected, got {text[:40]!r}") from None


# ---- commands -------------------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    meta = store.RunMeta(name=args.name, group=args.group, tags=args.tags, note=args.note)
    for run_id in submission.submit_seeds(config, args.seeds, meta):
        print(run_id)
    return 0


# list, show and export import pandas (with worker.frames) when they run: half a second that every other
# command, the worker's above all, would spend at its start for nothing.


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from worker import frames

    with db.session_scope() as session:
        runs = frames.runs_frame(session)
    if runs.empty:
        print("no runs")
        return 0
    for row in runs.itertuples():
        acc = f"{row.best_val_acc:.1%}" if pd.notna(row.best_val_acc) else "-"
        done = f"{row.epochs_done}/{row.epochs_total}"
        print(f"{row.id:>5}  {row.status:<11} {done:>9}  val {acc:>6}  {row.label:<20} {row.name}")
    return 0


def _latest_epoch(session: Any, run_id: int) -> dict[str, Any] | None:
    import pandas as pd

    from worker import frames

    frame = frames.epochs_frame(session, [run_id])
    if frame.empty:
        return None
    row = frame.iloc[-1:].to_dict("records")[0]  # per-column types: ints stay ints
    return {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def cmd_show(args: argparse.Namespace) -> int:
    from worker import frames

    with db.session_scope() as session:
        run = store.require_run(session, args.run_id)
        summary = frames.run_summary(run)
        latest = _latest_epoch(session, args.run_id)
    if args.json:
        print(json.dumps({**summary, "latest_epoch": latest}, indent=2))
        return 0
    print(f"run {summary['id']}: {summary['name']} [{summary['status']}]")
    if summary["reason"]:
        print(f"  reason: {summary['reason']}")
    print(f"  epochs {summary['epochs_done']}/{summary['epochs_total']}, device {summary['device'] or '-'}")
    if latest:
        print(
            f"  epoch {latest['epoch']}: train loss {latest['train_loss']:.4f} acc {latest['train_acc']:.2%}, "
            f"val loss {latest['val_loss']:.4f} acc {latest['val_acc']:.2%}"
        )
    if summary["best_epoch"] is not None:
        print(f"  best epoch {summary['best_epoch']}: val acc {summary['best_val_acc']:.2%}")
    if summary["test_acc"] is not None:
        print(f"  test loss {summary['test_loss']:.4f} acc {summary['test_acc']:.2%}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    status = cancellation.cancel_run(args.run_id)
    if status is schema.RunStatus.RUNNING:
        print(f"run {args.run_id}: cancel requested; it stops within seconds")
    else:
        print(f"run {args.run_id}: {status.value}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    job_id = submission.resume_run(args.run_id)
    print(f"run {args.run_id}: queued again as job {job_id}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from worker import frames
    from worker.exports import to_csv

    with db.session_scope() as session:
        summary = frames.run_summary(store.require_run(session, args.run_id))
        epochs = frames.epochs_frame(session, [args.run_id])
        gradients = frames.gradients_frame(session, [args.run_id])
        signals = frames.signals_frame(session, [args.run_id])
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "epochs.csv").write_text(to_csv(epochs))
    (out / "gradients.csv").write_text(to_csv(gradients))
    (out / "signals.csv").write_text(to_csv(signals))
    (out / "run.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(epochs)} epochs, {len(gradients)} gradient and {len(signals)} signal rows to {out}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    runner.run_worker(burst=args.burst)
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    print(f"reconcile: {reconcile.reconcile()}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    db.upgrade_database()
    print("database at the latest schema")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    course = CourseOptions(args.preset, args.lr, args.epochs, args.continued_from, args.schedule)
    report = importer.import_folders(args.paths, None if course == CourseOptions() else course, args.group)
    for line in report.lines():
        print(line)
    return 0


COMMANDS = {
    "submit": cmd_submit,
    "list": cmd_list,
    "show": cmd_show,
    "cancel": cmd_cancel,
    "resume": cmd_resume,
    "export": cmd_export,
    "worker": cmd_worker,
    "reconcile": cmd_reconcile,
    "migrate": cmd_migrate,
    "import": cmd_import,
}


def _print_error(code: int, message: object) -> int:
    print(f"{PROG}: error: {store.squash(message)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.command in ("worker", "migrate") else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_environment()  # every setting, before any command writes anything
        return COMMANDS[args.command](args)
    except (ConfigError, store.RunNotFound, ValueError) as e:
        return _print_error(2, e)
    except connection.QueueError as e:
        return _print_error(1, e)
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        return _print_error(1, f"database error: {type(cause).__name__}: {cause}{db.migration_hint(e)}")
    except OSError as e:
        return _print_error(1, f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
