"""`python -m cortex_worker --socket PATH --worker N` (spec JSON in CORTEX_WORKER_SPEC)."""
import sys

from .server import main

sys.exit(main())
