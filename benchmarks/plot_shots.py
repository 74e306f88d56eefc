"""nn1 and coverage against the number of shots, per setting: tau (mean and range over seeds), the
unadapted source and the floor (real target poses against real target poses) as lines.

    python benchmarks/plot_shots.py benchmarks/results/shots/runs.jsonl docs/shots_curve.png --methods tau,tau_with_mixup
    python benchmarks/plot_shots.py benchmarks/results/methods/runs.jsonl docs/methods_curve.png --relative \
        --methods "tau,finetune[mmd],lora_all[mmd],lora[mixup],adaptor[mixup]" --settings "mpii->lsp,mpii->rope"
"""

from __future__ import annotations

import argparse
import json
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
    for (setting, method, shots, seed), r in latest.items():
        for key in ("nn1", "coverage"):
            table[setting][(method, key)][shots].append(r[key])
        source = latest.get((setting, "source", shots, seed))
        if source is not None and method not in ("source", "floor"):  # same evaluation latents: paired
            table[setting][(method, RELATIVE)][shots].append(r["nn1"] - source["nn1"])
    return table


RELATIVE = "nn1 - source"


LABELS = {"tau": "tau (default)", "tau_with_mixup": "tau with pose-mixup",
          "tau_style_only[mixup]": "tau, style codes only, pose-mixup", "finetune[mmd]": "fine-tuning",
          "lora_all[mmd]": "LoRA, every linear layer", "lora[mixup]": "LoRA, style layers (pose-mixup)",
          "adaptor[mixup]": "w-adaptor (pose-mixup)"}


def main(runs: str, figure: str, methods: tuple[str, ...] = ("tau",), settings: tuple[str, ...] = (),
         relative: bool = False) -> None:
    """Draw nn1 and coverage (or, with ``relative``, nn1 minus the source's) against the shots."""
    table = load(Path(runs))
    settings = [s for s in settings if s in table] if settings else list(table)
    keys = (RELATIVE,) if relative else ("nn1", "coverage")
    fig, axes = plt.subplots(len(keys), len(settings), figsize=(2.6 * len(settings), 2.6 * len(keys) + 0.4),
                             squeeze=False)
    for col, setting in enumerate(settings):
        for row, key in enumerate(keys):
            ax = axes[row][col]
            if relative:
                ax.axhline(0, color="0.4", ls="--", label="source")
            for method, style in (("source", {"color": "0.4", "ls": "--"}), ("floor", {"color": "0.7", "ls": ":"})):
                if relative:
                    break
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
                ax.set_ylabel(f"{key} ({'higher' if key == 'coverage' else 'lower'} is better)")
            if row == 0:
                ax.set_title(setting, fontsize=9)
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if len(keys) == 1 else 0.04, 1, 1))  # room for the legend below the panels
    Path(figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=90)
    print(f"wrote {figure}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs")
    p.add_argument("figure")
    p.add_argument("--methods", default="tau", help="comma-separated methods to draw")
    p.add_argument("--settings", default="", help="comma-separated settings (default: all in the runs file)")
    p.add_argument("--relative", action="store_true", help="draw nn1 minus the source's (paired by seed) only")
    args = p.parse_args()
    main(args.runs, args.figure, tuple(args.methods.split(",")), tuple(filter(None, args.settings.split(","))),
         args.relative)
