"""VGP Lab's middle layer: the store (SQLAlchemy), the queue (RQ on Redis, run ids only) and the training job.

Importing `worker` never imports torch; `worker.jobs` does, and only RQ's work horses import it.
"""

from worker.queue import QueueError, cancel_run, redis_available, resume_run, run_worker, submit_run
from worker.store import RunNotFound, RunStatus, get_engine, session_scope, upgrade_database

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
