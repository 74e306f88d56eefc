"""tau against the baselines at a glance: per setting and number of shots, each method's nn1 minus the
source's (mean over the seeds both ran, paired by seed: both decode the same evaluation latents).

    python benchmarks/methods_summary.py benchmarks/results/methods/runs.jsonl [--methods "tau,finetune[mmd],..."]

A cell is empty where a method was not run; the best (lowest) entry of a row is in bold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from shots_table import load

DEFAULT_METHODS = "tau,finetune[mmd],lora_all[mmd]"


def summary(runs: dict, methods: list[str]) -> str:
    lines = ["| setting | shots | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
    for (setting, shots), by_method in sorted(runs.items()):
        source = by_method.get("source", {})
        gains: dict[str, float] = {}
        for method in methods:
            rows = by_method.get(method, {})
            seeds = sorted(set(rows) & set(source))
            if seeds:
                gains[method] = float(np.mean([rows[s]["nn1"] - source[s]["nn1"] for s in seeds]))
        if len(gains) < 2:
            continue
        best = min(gains.values())
        cells = [("" if m not in gains else f"**{gains[m]:+.3f}**" if gains[m] == best else f"{gains[m]:+.3f}")
                 for m in methods]
        lines.append(f"| {setting} | {shots} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path)
    p.add_argument("--methods", default=DEFAULT_METHODS)
    args = p.parse_args()
    print(summary(load(args.runs), args.methods.split(",")))


if __name__ == "__main__":
    main()
