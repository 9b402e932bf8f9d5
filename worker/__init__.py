"""VGP Lab's middle layer: the store (SQLAlchemy), the queue and its workers (RQ on Redis, run ids only), the jobs.

Importing `worker` imports nothing else: `import worker.schema` (as migrations do) loads neither rq nor torch.
Only the job bodies (`worker.jobs`, `worker.sweep_job`, `worker.landscape_job`) import torch, and only RQ's work
horses import them.

Words: "worker" names three things, kept apart so:
- the package `worker` (this folder: store, queue, jobs);
- the RQ worker process, started by `python -m worker worker` (the Procfile's `worker` line, one per GPU),
  which is `worker.runner.run_worker` working a `RunWorker` (RQ's forking Worker, narrowed to our jobs);
- its work horse, the process the RQ worker forks per job, where `worker.jobs.train_run` runs.

Rooms, in import order: `settings`, `schema`, `db`, `store` (writes) and `frames` (reads), `sweeps`;
`connection` (Redis), `rq_jobs` (our RQ jobs: what is enqueued, what a worker accepts, fetching one), `liveness`
(RQ jobs seen from outside), `cancellation` (cancel_run, in the database), `rq_jobs.callbacks` (what RQ calls when a job
fails or is stopped), `queue` (enqueue), `submission` (submit, seeds, sweeps, resume), `reconcile` (crash
recovery), `runner` (the worker process); `jobs`, `sweep_job` and `landscape_job` (what runs in a work horse).
"""
