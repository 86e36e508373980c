"""The chaos suite's figures: each of issue 12's faults under steady load through the router.

    .venv/bin/python benchmarks/chaos.py           # runs tests/chaos (own cluster), then the table
    .venv/bin/python benchmarks/chaos.py --table   # only the table of the last run

One row per fault: requests sent during it (official openai client, streaming and not), the
ones that failed (a non-streaming error, a stream refused or broken without a clean error
event), streams cut with a clean error event, seconds to recover, and objects left wrong
(ModelDeployments not Ready, missing/duplicated/orphaned children, router config off).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.chaos.conftest import FIGURES_FILE, Figure, figure_table  # noqa: E402


def main(argv: list[str]) -> int:
    code = 0
    if "--table" not in argv:
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/chaos"],
            cwd=REPO,
        )
    if not FIGURES_FILE.exists():
        print("no figures: the suite did not run", file=sys.stderr)
        return code or 1
    figures = [Figure(**row) for row in json.loads(FIGURES_FILE.read_text())]
    print(figure_table(figures))
    sent = sum(f.requests for f in figures)
    failed = sum(f.failed for f in figures)
    print(f"\nall faults: {sent} requests, {failed} failed ({failed / max(sent, 1):.2%})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
