"""What the pages do to chosen runs (Runs, Run) through worker.submission, worker.cancellation and worker.store,
and what Launch asks before it queues (the seeds' group name, the memory budgets). Pages queue runs, sweeps and
landscapes and cancel sweeps and landscapes with worker.submission and worker.cancellation themselves.

An action on chosen runs takes their ids (ints, parsed where the page reads them) and returns one line to show:
expected failures (Redis down, a run that cannot take the action) are collected per run into that line, never
raised, so one bad run does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from dashboard import errors
from vgp_models.config import RunConfig
from worker import cancellation, db, store, submission
from worker.schema import RunOrigin, RunStatus
from worker.settings import Settings

REFUSALS = (ValueError, LookupError)
"""A run that cannot take an action (already finished, tracked, gone): said per run like the expected failures of
`errors.is_expected` (the services away)."""


def seeds_group(config: RunConfig, seeds: int) -> str:
    """The group name for `seeds` repeats of `config`, stamped now."""
    return submission.seeds_group(config, seeds, datetime.now())


def check_budget(config: RunConfig) -> None:
    """ConfigError (one line) when `config` is over this installation's memory budgets (submit checks it too)."""
    submission.check_budget(config, Settings.from_env())


def _each(run_ids: Iterable[int], verbs: tuple[str, str], act: Callable[[int], object]) -> tuple[bool, str]:
    """Apply `act` to each run; (all went well, 'Done #1, #2. Could not do: #3: why').

    An `act` that returns a string files its run under that verb instead ('Cancelling #4.').
    """
    done_verb, verb = verbs
    done: dict[str, list[str]] = {}
    failed = []
    for run_id in run_ids:
        try:
            outcome = act(run_id)
            done.setdefault(outcome if isinstance(outcome, str) else done_verb, []).append(f"#{run_id}")
        except Exception as error:  # noqa: BLE001 - re-raised unless expected
            if not (isinstance(error, REFUSALS) or errors.is_expected(error)):
                raise
            failed.append(f"#{run_id}: {store.squash(error, 300)}")
    parts = [f"{said} {', '.join(ids)}." for said, ids in done.items()]
    if failed:
        parts.append(f"Could not {verb}: {'; '.join(failed)}")
    return not failed, " ".join(parts) or "No run selected."


def cancel(run_ids: Iterable[int]) -> tuple[bool, str]:
    """Cancel queued and running runs. A running one is only asked to stop (within a few seconds), so it is
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
