"""Where a run came from: the code's commit, the time, the model's exact parameter count. The run folder, every
checkpoint, the importer and the worker's run row record these; one function each."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from vgp_models import registry
from vgp_models.config import RunConfig
from vgp_models.memory import parameters


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def git_commit() -> str | None:
    """The commit of the code that runs, when it lives in a git checkout; None elsewhere (a bare GPU box).
    run.json, every checkpoint and the worker's run row record it."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and len(commit) == 40 else None


def parameter_count(config: RunConfig) -> int:
    """The model's parameter count, in closed form (vgp_models.memory): nothing built, torch never imported; a
    registered architecture's is counted on the meta device in a child process (vgp_models.registry, cached).
    The one count of a config's parameters before training (run.json, the importer, the worker's run row)."""
    if config.arch in registry.BUILTIN:
        return parameters(config)
    return registry.parameter_counts(config.to_dict())[config.arch]
