"""Thousands of hostile model and audio files through `render`, `bench` and `check`
(devtools/fuzz.py: real .nam files and WAVs, mutated): how many ended in a clear error, how many
still played, every case that escaped as a traceback or hung, and the worst memory (this
process's peak resident set, which every case ran in). Target: zero tracebacks, zero hangs,
under 2 GB.

    .venv/bin/python benchmarks/fuzz.py --cases 5000 [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.fuzz import fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        tally = fuzz(Path(folder), args.cases, args.seed, say=lambda line: print(line, flush=True))
    for failure in tally.failures:
        print(f"FAILED {failure}")
    print(
        f"{tally.cases} cases in {time.monotonic() - start:.0f} s: {tally.outcomes['error']} clear errors, {tally.outcomes['played']} played, "
        f"{len(tally.failures)} tracebacks or hangs; peak memory {tally.max_rss_mb:.0f} MB"
    )
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
