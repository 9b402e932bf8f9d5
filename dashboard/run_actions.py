"""What the pages do to runs, sweeps and landscapes through worker.submission, worker.cancellation and worker.store:
queue new ones (Launch, Depth sweep, Loss landscape), and act on chosen runs (Runs, Run).

An action on chosen runs takes their ids and returns one line to show: expected failures (Redis down, a run
that cannot take the action) are collected per run into that line, never raised, so one bad run does not stop
the others. Queueing raises; the page shows the expected failures as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from vgp_models.config import RunConfig
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.sweep_config import SweepConfig
from worker import cancellation, connection, db, store, submission
from worker.schema import RunOrigin, RunStatus
from worker.settings import Settings

MAX_SEEDS = submission.MAX_SEEDS


def seeds_group(config: RunConfig, seeds: int) -> str:
    """The group name for `seeds` repeats of `config`, stamped now."""
    return submission.seeds_group(config, seeds, datetime.now())


def check_budget(config: RunConfig) -> None:
    """ConfigError (one line) when `config` is over this installation's memory budgets (submit checks it too)."""
    submission.check_budget(config, Settings.from_env())


def submit_seeds(config: RunConfig, seeds: int, meta: store.RunMeta | None = None) -> list[int]:
    """Queue `seeds` runs of `config` that differ only in seed, as one group (one seed: a plain run); their ids."""
    return [int(i) for i in submission.submit_seeds(config, int(seeds), meta)]


def submit_sweep(config: SweepConfig) -> int:
    """Queue a depth sweep; returns its id."""
    return int(submission.submit_sweep(config))


def cancel_sweep(sweep_id: int) -> str:
    """Cancel a queued or running sweep; returns its status afterwards."""
    return str(cancellation.cancel_sweep(sweep_id).value)


def submit_landscape(config: LandscapeConfig) -> int:
    """Queue a loss landscape; returns its id."""
    return int(submission.submit_landscape(config))


def cancel_landscape(landscape_id: int) -> str:
    """Cancel a queued or running landscape; returns its status afterwards."""
    return str(cancellation.cancel_landscape(landscape_id).value)


def _each(run_ids: Iterable[int], verbs: tuple[str, str], act: Callable[[int], object]) -> tuple[bool, str]:
    """Apply `act` to each run; (all went well, 'Done #1, #2. Could not do: #3: why').

    An `act` that returns a string files its run under that verb instead ('Cancelling #4.').
    """
    done_verb, verb = verbs
    done: dict[str, list[str]] = {}
    failed = []
    for run_id in run_ids:
        try:
            outcome = act(int(run_id))
            done.setdefault(outcome if isinstance(outcome, str) else done_verb, []).append(f"#{run_id}")
        except (ValueError, LookupError, OSError, connection.QueueError) as error:
            failed.append(f"#{run_id}: {store.squash(error, 300)}")
        except Exception as error:  # redis' and SQLAlchemy's own errors, without importing them here
            if not type(error).__module__.startswith(("redis", "sqlalchemy")):
                raise
            failed.append(f"#{run_id}: {store.squash(error, 300)}")
    parts = [f"{said} {', '.join(ids)}." for said, ids in done.items()]
    if failed:
        parts.append(f"Could not {verb}: {'; '.join(failed)}")
    return not failed, " ".join(parts) or "No run selected."


def cancel(run_ids: Iterable[int]) -> tuple[bool, str]:
    """Cancel queued and running runs. A running one is only asked to stop (within about a second), so it is
    reported as cancelling; "Cancelled" means stopped."""

    def stop(run_id: int) -> str:
        status = cancellation.cancel_run(run_id)
        if status is RunStatus.RUNNING:
            return "Cancelling"
        if status is not RunStatus.CANCELLED:
            raise ValueError(f"it is already {status.value}")
        return "Cancelled"

    return _each(run_ids, ("Cancelled", "cancel"), stop)


def resume(run_ids: Iterable[int]) -> tuple[bool, str]:
    """Queue interrupted, failed or cancelled runs again, from their last checkpoint."""
    return _each(run_ids, ("Resumed", "resume"), submission.resume_run)


def rerun(run_ids: Iterable[int]) -> tuple[bool, str]:
    """Queue a new run with each run's config, name, group, tags and note."""

    def again(run_id: int) -> None:
        with db.session_scope() as s:
            run = store.require_run(s, run_id)
            if run.origin is RunOrigin.TRACKED:
                raise ValueError("it is tracked (your own training loop and model); run your script again")
            config, meta = run.run_config(), store.RunMeta(run.name, run.group_name, run.tags, run.note)
        submission.submit_run(config, meta)

    return _each(run_ids, ("Queued again", "queue again"), again)


def delete(run_ids: Iterable[int]) -> tuple[bool, str]:
    """Delete finished runs with their epochs, gradients and checkpoints."""

    def gone(run_id: int) -> None:
        with db.session_scope() as s:
            run_uuid = store.delete_run(s, run_id)
        store.remove_checkpoints(run_uuid)  # only once the delete is committed

    return _each(run_ids, ("Deleted", "delete"), gone)


def edit(run_ids: Iterable[int], verbs: tuple[str, str], **changes: object) -> tuple[bool, str]:
    """update_run_meta on each run (name, group, note; tags as given)."""

    def change(run_id: int) -> None:
        with db.session_scope() as s:
            store.update_run_meta(s, run_id, **changes)  # type: ignore[arg-type]

    return _each(run_ids, verbs, change)


def retag(run_ids: Iterable[int], add: Iterable[str] = (), remove: Iterable[str] = ()) -> tuple[bool, str]:
    """Add and remove tags on each run."""
    add = {t.strip() for t in add if t.strip()}
    remove = {t.strip() for t in remove if t.strip()}

    def change(run_id: int) -> None:
        with db.session_scope() as s:
            run = store.require_run(s, run_id)
            store.update_run_meta(s, run_id, tags=(set(run.tags or []) | add) - remove)

    return _each(run_ids, ("Tagged", "tag") if add else ("Untagged", "untag"), change)
