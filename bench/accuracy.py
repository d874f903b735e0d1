"""Print the hit classifier's confusion table on the labelled corpus in tests/data.

Rows are what a careful person labelled each hit, columns what the classifier said. The
figures that matter most are printed under the table: people taken for machines (must be 0),
machines, scanners and the sender counted as readers (must be 0).

    .venv/bin/python bench/accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "data")]

import corpus  # noqa: E402

from backend.classify import CLASSES  # noqa: E402

READERS = {"human", "gmail_proxy", "yahoo_proxy"}
NOT_READERS = {"apple_mpp", "scanner", "self"}


def main() -> int:
    results = corpus.replay(corpus.load())
    table = corpus.confusion(results)
    width = max(len(c) for c in CLASSES) + 2
    print(f"Classifier confusion on {len(results)} labelled hits (rows: truth, columns: verdict)\n")
    print(
        "truth \\ verdict".ljust(width + 4)
        + "".join(c[:11].rjust(12) for c in CLASSES)
        + "      recall"
    )
    for truth in CLASSES:
        row = [table[(truth, got)] for got in CLASSES]
        total = sum(row)
        recall = f"{table[(truth, truth)] / total:.1%}" if total else "-"
        print(truth.ljust(width + 4) + "".join(str(n).rjust(12) for n in row) + recall.rjust(12))
    correct = sum(table[(c, c)] for c in CLASSES)
    people_as_machines = sum(
        n
        for (truth, got), n in table.items()
        if truth in READERS and got in {"apple_mpp", "scanner"}
    )
    machines_counted = sum(
        1 for truth, _, hit in results if truth in NOT_READERS and hit["counted"]
    )
    print(f"\naccuracy: {correct / len(results):.1%} ({correct}/{len(results)})")
    print(f"people's opens taken for machines: {people_as_machines}")
    print(f"machine, scanner or sender hits counted as opens: {machines_counted}")
    return 1 if people_as_machines or machines_counted else 0


if __name__ == "__main__":
    sys.exit(main())
