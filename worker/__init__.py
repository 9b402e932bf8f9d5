"""VGP Lab's middle layer: the store (SQLAlchemy), the queue and its workers (RQ on Redis, run ids only), the jobs.

Importing `worker` imports nothing else: `import worker.schema` (as migrations do) loads neither rq nor torch.
Only `worker.jobs` and `worker.sweep_job` import torch, and only RQ's work horses import them.

Words: "worker" names three things, kept apart so:
- the package `worker` (this folder: store, queue, jobs);
- the RQ worker process, started by `python -m worker worker` (the Procfile's `worker` line, one per GPU),
  which is `worker.runner.run_worker` working a `RunWorker` (RQ's forking Worker, narrowed to our jobs);
- its work horse, the process the RQ worker forks per job, where `worker.jobs.train_run` runs.

Rooms, in import order: `settings`, `schema`, `db`, `store` (writes) and `frames` (reads), `sweeps`;
`connection` (Redis), `rq_jobs` (our jobs, our callbacks only), `liveness` (RQ jobs seen from outside),
`cancellation` (flags, cancel_run), `queue` (enqueue, callbacks), `submission` (submit, seeds, sweeps, resume),
`reconcile` (the sweep), `runner` (the worker process); `jobs` and `sweep_job` (what runs in a work horse).
"""
