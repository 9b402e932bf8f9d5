"""`python -m worker worker`, also running the misbehaving stub jobs of tests.reliability_support: a real worker
runs only JOB_FUNCTIONS (worker.rq_jobs), so the reliability tests widen that list in this process alone.
The stubs are named, not imported: the horse imports them, the parent stays as light as a real worker."""

import sys

from worker import __main__ as cli
from worker import rq_jobs

STUB_JOBS = frozenset(f"tests.reliability_support.{name}" for name in ("stubborn_job", "raising_job", "dying_job"))

rq_jobs.JOB_FUNCTIONS = rq_jobs.JOB_FUNCTIONS | STUB_JOBS
sys.exit(cli.main(["worker", *sys.argv[1:]]))
