"""`python -m bench [--quick] [--no-peer]`: every benchmark, one table.

Each figure of pm-actors beside its baseline measured in the same run (supervisord 4.3 doing
the same work, or the physical floor), the ratio, the goal and whether it is met. `--quick`
runs every benchmark at a tiny size (the test suite does, so that none rots); its figures mean
nothing. Prints the table to stdout; every process it started is ended and its temp dir
removed on every exit path.
"""

from __future__ import annotations

import os
import sys

# `python -m bench` puts the repository root first on the path, where `pm_actors/` holds only
# part of the package (actors/, ipc/ and mcp_shim/ install into it from the top level): the
# installed package must be found instead. The scripts of this folder import each other by
# module name, as when each runs alone.
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != os.path.dirname(BENCH_DIR)]
sys.path.insert(0, BENCH_DIR)

from run_all import main  # noqa: E402  (after the path is set)

if __name__ == "__main__":
    main()
