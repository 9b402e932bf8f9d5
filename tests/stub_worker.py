"""`python -m worker worker`, also running the misbehaving stub jobs of tests.reliability_support: a real worker
runs only JOB_FUNCTIONS (worker.runner), so the reliability tests widen that list in this process alone."""

import sys

from tests import reliability_support
from worker import __main__ as cli
from worker import runner

runner.JOB_FUNCTIONS = runner.JOB_FUNCTIONS | reliability_support.STUB_JOBS
sys.exit(cli.main(["worker", *sys.argv[1:]]))
