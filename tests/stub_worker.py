"""`python -m worker worker`, also running the misbehaving stub jobs of tests.reliability_support: a real worker
runs only JOB_FUNCTIONS (worker.runner), so the reliability tests widen that list in this process alone.
The stubs are named, not imported: the horse imports them, the parent stays as light as a real worker."""

import sys

from worker import __main__ as cli
from worker import runner

STUB_JOBS = frozenset(f"tests.reliability_support.{name}" for name in ("stubborn_job", "raising_job", "dying_job"))

runner.JOB_FUNCTIONS = runner.JOB_FUNCTIONS | STUB_JOBS
sys.exit(cli.main(["worker", *sys.argv[1:]]))
