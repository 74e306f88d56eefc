"""The shots table of BENCHMARKS.md: per setting and number of shots, the source (or ``--against``)
against one method (mean over the seeds; nn1 differences paired by seed, since both rows of a seed
decode the same latents).

    python benchmarks/shots_table.py benchmarks/results/shots/runs.jsonl [--method tau] [--against source]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def load(path: Path) -> dict:
    """(setting, shots) -> method -> seed -> record (the last record of each run wins)."""
    runs: dict = defaultdict(lambda: defaultdict(dict))
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "skipped" not in r:
            runs[(r["setting"], r["shots"])][r["method"]][r["seed"]] = r
    return runs


def table(runs: dict, method: str, against: str = "source") -> str:
    ref = against
    head = (f"| setting | shots | {ref} nn1 | {method} nn1 | {method} - {ref} (per seed) | coverage {ref} -> {method} "
            f"| precision {ref} -> {method} | recall {ref} -> {method} | memorization / chance: {ref}, {method} "
            f"| limb asymmetry / real: {ref}, {method} |")
    lines = [head, "|" + "---|" * 10]
    for (setting, shots), by_method in sorted(runs.items()):
        src, ada = by_method.get(ref, {}), by_method.get(method, {})
        seeds = sorted(set(src) & set(ada))
        if not seeds:
            continue

        def mean(rows: dict, key: str, seeds: list = seeds) -> float:
            return float(np.mean([rows[s][key] for s in seeds]))

        diffs = [ada[s]["nn1"] - src[s]["nn1"] for s in seeds]
        arrows = " | ".join(f"{mean(src, k):.2f} -> {mean(ada, k):.2f}" for k in ("coverage", "precision", "recall"))
        lines.append(
            f"| {setting} | {shots} | {mean(src, 'nn1'):.3f} | {mean(ada, 'nn1'):.3f} | {np.mean(diffs):+.3f} "
            f"({', '.join(f'{d:+.3f}' for d in diffs)}) | {arrows} | "
            f"{mean(src, 'memorization_ratio'):.2f}x, {mean(ada, 'memorization_ratio'):.2f}x | "
            f"{mean(src, 'limb_asymmetry_ratio'):.2f}x, {mean(ada, 'limb_asymmetry_ratio'):.2f}x |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path)
    p.add_argument("--method", default="tau")
    p.add_argument("--against", default="source", help="the reference method (default: the unadapted source)")
    args = p.parse_args()
    print(table(load(args.runs), args.method, args.against))


if __name__ == "__main__":
    main()
