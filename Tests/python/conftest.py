"""pytest fixtures for the worker runtime tests (defined in worker_harness.py)."""
from worker_harness import *  # noqa: F401,F403
