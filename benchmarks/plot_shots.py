"""nn1 and coverage against the number of shots, per setting: tau (mean and range over seeds), the
unadapted source and the floor (real target poses against real target poses) as lines.

    python benchmarks/plot_shots.py benchmarks/results/shots/runs.jsonl docs/shots_curve.png [tau,tau_energy]

The optional third argument lists the methods drawn (default: tau).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def load(path: Path) -> dict:
    latest = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "skipped" not in r:
            latest[(r["setting"], r["method"], r["shots"], r["seed"])] = r
    table: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for (setting, method, shots, _), r in latest.items():
        for key in ("nn1", "coverage"):
            table[setting][(method, key)][shots].append(r[key])
    return table


LABELS = {"tau": "tau (MMD, default)", "tau_energy": "tau, energy distance"}


def main(runs: str, figure: str, methods: tuple[str, ...] = ("tau",)) -> None:
    table = load(Path(runs))
    settings = list(table)
    fig, axes = plt.subplots(2, len(settings), figsize=(2.6 * len(settings), 5.2), squeeze=False)
    for col, setting in enumerate(settings):
        for row, key in enumerate(("nn1", "coverage")):
            ax = axes[row][col]
            for method, style in (("source", {"color": "0.4", "ls": "--"}), ("floor", {"color": "0.7", "ls": ":"})):
                series = table[setting][(method, key)]
                if series:
                    shots = sorted(series)
                    ax.plot(shots, [np.mean(series[k]) for k in shots], label=method, **style)
            for method in methods:
                series = table[setting][(method, key)]
                shots = sorted(series)
                if not shots:
                    continue
                mean = np.array([np.mean(series[k]) for k in shots])
                lo = np.array([np.min(series[k]) for k in shots])
                hi = np.array([np.max(series[k]) for k in shots])
                ax.plot(shots, mean, marker="o", label=LABELS.get(method, method))
                ax.fill_between(shots, lo, hi, alpha=0.2)
            ax.set_xscale("log")
            ticks = sorted({k for series in table[setting].values() for k in series})
            ax.set_xticks(ticks, [str(k) for k in ticks])
            ax.minorticks_off()
            ax.set_xlabel("shots")
            if col == 0:
                ax.set_ylabel(f"{key} ({'lower' if key == 'nn1' else 'higher'} is better)")
            if row == 0:
                ax.set_title(setting, fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    Path(figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=90)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], tuple(sys.argv[3].split(",")) if len(sys.argv) > 3 else ("tau",))
