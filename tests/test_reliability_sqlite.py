"""SQLite under a worker's write load: a process recording epochs as fast as it can, a process reading frames
in a loop (the dashboard), and a process reconciling (heartbeats and status changes, as `reconcile` does).
No "database is locked", no half-written epoch: WAL, the busy timeout and write-first transactions; and
`db.read_scope` reads epochs and gradients from one snapshot (a commit during one unseen: test_db.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.env_support import REPO
from tests.reliability_support import wait_for
from tests.run_support import tiny
from worker import db, frames, schema, store

SECONDS = 3.0
LAYERS = 40

COMMON = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from tests.run_support import epoch_metrics  # torch-free
    from vgp_models.metrics import LayerGrad
    from sqlalchemy.exc import OperationalError
    from worker import db, frames, store
    from worker.schema import RunStatus
    run_id, other_id, seconds, layers = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    folder, name = pathlib.Path(sys.argv[5]), sys.argv[6]
    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists():  # start together, after the imports
        time.sleep(0.01)
    errors, count, end = [], 0, time.monotonic() + seconds
    """
)

WRITER = COMMON + textwrap.dedent(
    """
    while time.monotonic() < end:
        count += 1
        grads = [LayerGrad(layer_index=i, layer=f"layer_{i}", abs_mean_last=1e-3 * i, abs_mean_epoch=1e-3, l2=0.1)
                 for i in range(layers)]
        metrics = epoch_metrics(count, count, seconds=0.01, grads=grads)
        try:
            with db.session_scope() as s:
                store.record_epoch(s, run_id, metrics)
        except OperationalError as e:
            errors.append(str(e.orig))
    print(json.dumps({"count": count, "errors": errors}))
    """
)

READER = COMMON + textwrap.dedent(
    """
    last = 0
    while time.monotonic() < end:
        count += 1
        snapshot = count % 2 == 0  # alternately the dashboard's plain session and a one-snapshot read_scope
        try:
            with (db.read_scope() if snapshot else db.session_scope()) as s:
                epochs = frames.epochs_frame(s, [run_id])
                grads = frames.gradients_frame(s, [run_id])
                frames.runs_frame(s)
            if len(grads) % layers:
                errors.append(f"half an epoch: {len(grads)} gradient rows")  # each epoch is one transaction
            if snapshot and len(grads) != len(epochs) * layers:
                errors.append(f"torn snapshot: {len(epochs)} epochs, {len(grads)} gradient rows")
            if len(epochs) < last:
                errors.append("epochs went backwards")
            last = len(epochs)
        except OperationalError as e:
            errors.append(str(e.orig))
    print(json.dumps({"count": count, "errors": errors, "last": last}))
    """
)

RECONCILER = COMMON + textwrap.dedent(
    """
    statuses = [RunStatus.RUNNING, RunStatus.INTERRUPTED]
    while time.monotonic() < end:
        count += 1
        try:
            with db.session_scope() as s:
                store.touch_heartbeat(s, run_id)
            with db.session_scope() as s:
                store.transition_run(s, other_id, [statuses[count % 2]], statuses[(count + 1) % 2], "reconcile")
            with db.session_scope() as s:
                store.list_runs(s, [RunStatus.RUNNING])
        except OperationalError as e:
            errors.append(str(e.orig))
        time.sleep(0.01)
    print(json.dumps({"count": count, "errors": errors}))
    """
)


def test_readers_and_reconcilers_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vgp.db'}"
    db.upgrade_database(url)
    try:
        with db.session_scope(url) as s:
            run_id, other_id = store.create_run(s, tiny()).id, store.create_run(s, tiny()).id
        with db.session_scope(url) as s:
            store.transition_run(s, run_id, [schema.RunStatus.QUEUED], schema.RunStatus.RUNNING)
            store.transition_run(s, other_id, [schema.RunStatus.QUEUED], schema.RunStatus.RUNNING)
    finally:
        db.dispose_engines()

    env = {**os.environ, "DATABASE_URL": url}
    args = [str(run_id), str(other_id), str(SECONDS), str(LAYERS), str(tmp_path)]
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", code, *args, name],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name, code in (("writer", WRITER), ("reader", READER), ("reconciler", RECONCILER))
    }
    wait_for(lambda: all((tmp_path / f"ready-{name}").exists() for name in procs), 60, 0.05, "the three processes")
    (tmp_path / "go").touch()
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {err[-2000:]}"
        results[name] = json.loads(out)
    for name, result in results.items():
        assert result["errors"] == [], f"{name}: {result['errors'][:3]}"
    assert results["writer"]["count"] >= 10 and results["reader"]["count"] >= 10
    assert results["reconciler"]["count"] >= 2  # it waits for the writer's lock (busy timeout), but gets through
    assert results["reader"]["last"] > 0  # it read while the writer was writing
    try:
        with db.session_scope(url) as s:
            assert len(frames.epochs_frame(s, [run_id])) == results["writer"]["count"]
            assert len(frames.gradients_frame(s, [run_id])) == results["writer"]["count"] * LAYERS
    finally:
        db.dispose_engines()
