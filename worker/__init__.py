"""VGP Lab's middle layer: the store (SQLAlchemy), the queue and its workers (RQ on Redis, run ids only), the job.

Importing `worker` never imports torch; `worker.jobs` does, and only RQ's work horses import it.
"""

from worker.db import get_engine, session_scope, upgrade_database
from worker.queue import QueueError, cancel_run, redis_available, resume_run, submit_run
from worker.runner import run_worker
from worker.schema import RunStatus
from worker.store import RunNotFound

__all__ = [
    "QueueError",
    "RunNotFound",
    "RunStatus",
    "cancel_run",
    "get_engine",
    "redis_available",
    "resume_run",
    "run_worker",
    "session_scope",
    "submit_run",
    "upgrade_database",
]
