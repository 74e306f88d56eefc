"""Cross-dataset few-shot benchmark: settings x methods x shots x seeds -> JSON lines + markdown table.

    python benchmarks/harness.py --data ../shared/data --out benchmarks/results            # default table
    python benchmarks/harness.py --data ../shared/data --out /tmp/quick --quick            # minutes, for CI
    python benchmarks/harness.py --data ../shared/data --out benchmarks/results --jobs 2   # 2 runs at a time
    python benchmarks/harness.py ... --methods tau --set lr_generator=0.05 --tag lr5e-2      # a variant, own rows
    python benchmarks/harness.py ... --resume    # after a kill: run only what runs.jsonl does not hold yet

For each run: pick the shots (seeded, disjoint from the held-out target poses), adapt (or build the
reference samples), draw 10,000 poses (2,000 of them for the distribution metrics, all for the
memorization count, whose events are rare), evaluate them against the held-out target poses on the joints
the target shares with the base, and record metrics, wall time, the process's peak RSS, trainable
parameters and sampling throughput. The source row and every adapted row of one seed decode the same
latents (common random numbers), so their difference is the adaptation's, not sampling noise. Methods plug in by name: the reference rows below, plus every
entry of flexpose_hf.adaptation.METHODS, plus ablations of tau.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from flexpose_hf import FlexPoseGenerator, load_poses, pose_arrays
from flexpose_hf.adaptation import METHODS, AdaptConfig, MethodOptions, adapt
from flexpose_hf.adaptation.run import grouped_choice, pose_groups
from flexpose_hf.hub import generator_dir
from flexpose_hf.io import SHOT_GROUPS
from flexpose_hf.loading import sample_poses
from flexpose_hf.metrics import evaluate_poses, protocol_joints
from flexpose_hf.models.discriminator import load_discriminator
from flexpose_hf.skeletons import convert_keypoints, get_skeleton
from flexpose_hf.training.data import flip_poses, to_unit_poses

MIN_HELD_OUT = 50  # held-out target poses a run needs for its metrics
REFERENCE_ROWS = ("floor", "source", "augment_shots", "repeat_shots")
# tau with one ingredient changed (AdaptConfig / MethodOptions fields; "all" layers = every style layer).
ABLATIONS = {
    "tau_with_mixup": {"pose_mixup": True},
    "tau_no_sparse": {"sparsity_weight": 0.0},
    "tau_plain_l1": {"tau_offdiagonal_weight": 1.0},
    "tau_coarse_layers": {"layers": [0, 1, 2]},
    "tau_diagonal": {"tau_form": "diagonal"},
    "tau_lowrank": {"tau_form": "lowrank", "tau_rank": 4},
    "tau_energy": {"divergence": "energy"},
    "tau_sinkhorn": {"divergence": "sinkhorn"},
    "tau_with_critic": {"adv_weight": 1.0},
    "tau_shots_only": {"prior_shots": 0.0},
    "tau_style_only": {"tau_mapping": False},
}


def turned_faces(keypoints: np.ndarray, share: float = 0.3) -> np.ndarray:
    """Indices of the most turned heads: the nose tip's horizontal offset from the jaw-line midpoint,
    relative to face width, largest ``share`` of the faces (a yaw proxy from landmark geometry)."""
    jaw_l, jaw_r, nose = keypoints[:, 0], keypoints[:, 16], keypoints[:, 30]
    width = np.linalg.norm(jaw_r - jaw_l, axis=-1)
    offset = np.abs(nose[:, 0] - (jaw_l[:, 0] + jaw_r[:, 0]) / 2) / np.maximum(width, 1e-6)
    return np.argsort(-offset)[: int(len(offset) * share)]


def settings(data: Path) -> dict[str, dict]:
    return {
        "mpii->lsp": {"base": "mpii-body", "target": data / "lspet" / "joints.mat"},
        "mpii->coco": {"base": "mpii-body", "target": data / "coco" / "person_keypoints_val2017_subset.json"},
        "helen->turned": {"base": "helen-face", "target": data / "300w_helen" / "testset", "select": turned_faces,
                          "note": "HELEN test faces, the 30% most turned heads (nose offset from jaw midpoint)"},
        "mpii->market": {"base": "mpii-body", "target": data / "market1501" / "market-annotation-test.csv",
                         "groups": MARKET_PERSON,
                         "note": "Market-1501 test pedestrians (OpenPose-18); added after the defaults were chosen; "
                                 "shots from different persons, held-out poses only of the others"},
        **{f"mpii->{key}": {"base": "mpii-body", "target": data / "mpii" / "mpii_dataset.csv", "activity": activity,
                            "note": f"narrow: MPII persons of activity '{activity}' (the source saw these poses)"}
           for key, activity in NARROW_ACTIVITIES.items()},
        "mpii->golf": {"base": "mpii-body", "target": data / "mpii" / "mpii_dataset.csv", "activity": "golf",
                       "opt_in": True,
                       "note": "MPII persons of activity 'golf', a handed sport (the source saw these poses; "
                               "added after the defaults were chosen)"},
        "mpii->winter": {"base": "mpii-body", "target": data / "mpii" / "mpii_dataset.csv",
                         "category": "winter activities", "opt_in": True,
                         "note": "MPII persons of category 'winter activities' (the bundled source saw these poses; "
                                 "a base trained without them makes it an unseen target)"},
    }


# Market-1501 image names start with the person's id ("0001_c1s1_...", "-1_..." for distractors).
MARKET_PERSON = SHOT_GROUPS["openpose"]
NARROW_ACTIVITIES = {"yoga": "yoga, Power", "skiing": "skiing, downhill", "rope": "rope skipping, general"}


def mpii_rows(csv_path: Path, column: str, value: str) -> np.ndarray:
    """Record indices of the MPII CSV rows whose ``column`` (``Activity``, ``Category``) is ``value``."""
    import csv

    with open(csv_path, newline="") as f:
        return np.array([i for i, row in enumerate(csv.DictReader(f)) if row[column] == value])


class TargetPool(NamedTuple):
    """A setting's usable target poses on the base skeleton, the joints it provides, and each pose's
    group (the person or video its image name names; None when the setting has no ``groups``)."""

    poses: np.ndarray
    mask: np.ndarray
    groups: np.ndarray | None = None


def target_pool(setting: dict, base_skeleton: str) -> TargetPool:
    """Usable target poses on the base skeleton, the mask of joints the target provides, their groups."""
    ds = load_poses(setting["target"])
    kp, vis = pose_arrays(ds)
    rows = np.arange(len(kp))
    tskel = json.loads(ds.info.description)["flexpose"]["skeleton"]
    if "select" in setting:
        rows = rows[setting["select"](kp)]
    for column in ("activity", "category"):
        if column in setting:
            wanted = mpii_rows(setting["target"], column.capitalize(), setting[column])
            rows = rows[np.isin(np.asarray(ds["record_index"])[rows], wanted)]
    conv, _ = convert_keypoints(kp[rows], vis[rows], tskel, base_skeleton)
    probe, _ = convert_keypoints(np.zeros((1, get_skeleton(tskel).num_joints, 2)), None, tskel, base_skeleton)
    mask = ~np.isnan(probe[0]).any(-1)
    complete = ~np.isnan(conv[:, mask]).any(axis=(1, 2))
    groups = None
    if "groups" in setting:
        groups = pose_groups(ds, rows[complete], setting["groups"], str(setting["target"]))
    return TargetPool(conv[complete], mask, groups)


def split_shots(target: TargetPool, shots: int, rng: np.random.Generator,
                name: str = "target") -> tuple[np.ndarray, np.ndarray]:
    """``shots`` target poses and the held-out rest, drawn with ``rng``; with groups, the shots come
    from different groups and the held-out poses only from the other groups (as ``flexpose adapt
    --shot-groups`` and the protocol draw frames of videos)."""
    if target.groups is None:
        perm = rng.permutation(len(target.poses))
        return target.poses[perm[:shots]], target.poses[perm[shots:]]
    chosen, held = grouped_choice(np.arange(len(target.poses)), target.groups, shots, rng, name)
    return target.poses[chosen], target.poses[held]


def augment_shots(unit_shots: np.ndarray, skeleton: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random rotation (+-20 deg), scale (0.9-1.1), flip and joint jitter of the shots."""
    base = unit_shots[rng.integers(len(unit_shots), size=n)].copy()
    flip = rng.random(n) < 0.5
    base[flip] = flip_poses(base[flip], skeleton)
    theta = np.radians(rng.uniform(-20, 20, n))
    rot = np.stack([np.stack([np.cos(theta), -np.sin(theta)], -1), np.stack([np.sin(theta), np.cos(theta)], -1)], -2)
    out = np.einsum("nij,nkj->nki", rot, base) * rng.uniform(0.9, 1.1, (n, 1, 1))
    return out + rng.normal(0, 0.01, out.shape)


def sampling_seed(seed: int) -> int:
    """Seed of the evaluation latents, shared by the source row and the adapted rows of one run seed."""
    return 1000 + seed


def run_one(setting_name: str, setting: dict, method: str, shots: int, seed: int, steps: int, samples: int,
            cache: dict, overrides: dict | None = None) -> dict:
    """One benchmark run; ``overrides`` sets AdaptConfig / MethodOptions fields by name."""
    base_name = setting["base"]
    if base_name not in cache:
        cache[base_name] = FlexPoseGenerator.from_pretrained(base_name)
    skeleton = cache[base_name].config.skeleton
    key = (setting_name, skeleton)
    if key not in cache:
        cache[key] = target_pool(setting, skeleton)
    target = cache[key]
    mask = target.mask
    joints = tuple(j for j, m in zip(get_skeleton(skeleton).joints, mask) if m)
    joints = protocol_joints(joints)  # bodies on the 12 limb joints (../shared/EVALUATION.md), faces on all
    rng = np.random.default_rng(seed)
    if len(target.poses) - shots < MIN_HELD_OUT:  # checked before drawing: a grouped draw may refuse
        return {"setting": setting_name, "method": method, "shots": shots, "seed": seed,
                "skipped": f"only {len(target.poses)} usable target poses: {shots} shots leave fewer than "
                           f"{MIN_HELD_OUT} held out"}
    shot_kp, held = split_shots(target, shots, rng, setting_name)
    if len(held) < MIN_HELD_OUT:
        return {"setting": setting_name, "method": method, "shots": shots, "seed": seed,
                "skipped": f"{shots} shots from as many groups leave {len(held)} held-out poses (< {MIN_HELD_OUT})"}
    unit_shots = to_unit_poses(shot_kp)
    record = {"setting": setting_name, "method": method, "shots": shots, "seed": seed, "steps": 0,
              "held_out": len(held), "joints": len(joints),
              **({"base": setting["base_override"]} if "base_override" in setting else {})}
    start = time.perf_counter()
    if method == "floor":
        half = len(held) // 2
        fake, held = held[:half], held[half:]
    elif method == "source":
        fake = sample_poses(cache[base_name], samples, seed=sampling_seed(seed))
    elif method == "augment_shots":
        fake = augment_shots(unit_shots, skeleton, samples, rng)
    elif method == "repeat_shots":
        fake = unit_shots[rng.integers(len(unit_shots), size=samples)]
    else:
        method_name = "tau" if method in ABLATIONS else method
        options = MethodOptions()
        config = AdaptConfig(method=method_name, steps=steps, seed=seed, options=options)
        for key, value in {**ABLATIONS.get(method, {}), **(overrides or {})}.items():
            if key == "layers" and value == "all":
                value = list(range(cache[base_name].num_style_layers))
            if not (hasattr(options, key) or hasattr(config, key)):
                raise ValueError(f"{method}: {key!r} is neither an AdaptConfig nor a MethodOptions field")
            setattr(options if hasattr(options, key) else config, key, value)
        base = FlexPoseGenerator.from_pretrained(base_name)
        disc = None
        if config.adversarial_weight() > 0:
            disc = load_discriminator(str(Path(generator_dir(base_name)) / "discriminator"))
        result = adapt(base, unit_shots, config, discriminator=disc, progress=False)
        if result.selection is not None:  # "steps" stays the requested number (it identifies the run)
            record.update(selection=result.selection.to_dict(), trained_steps=result.config.steps)
        record.update(steps=steps, strength=result.strength.to_dict(),
                      adapt_seconds=round(result.seconds, 2),
                      trainable_parameters=result.adapted.num_trainable)
        t = time.perf_counter()
        fake = sample_poses(result.adapted.model, samples, seed=sampling_seed(seed))
        record["sampling_poses_per_s"] = round(samples / (time.perf_counter() - t))
    record["wall_seconds"] = round(time.perf_counter() - start, 2)
    metrics = evaluate_poses(fake, skeleton, held, skeleton, shots=shot_kp, shots_skeleton=skeleton, joints=joints)
    record.update({k: round(float(v), 4) for k, v in metrics.items() if isinstance(v, float)})
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return record


_WORKER_CACHE: dict = {}


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_task(task: tuple) -> dict:
    """``run_one`` in a worker process, with that process's own model and data cache."""
    *args, overrides, tag = task
    record = run_one(*args, _WORKER_CACHE, overrides if args[2] not in REFERENCE_ROWS else None)
    if tag and record["method"] not in REFERENCE_ROWS:
        record.update(method=f"{record['method']}[{tag}]", overrides=overrides)
    return record


def _run_indexed(item: tuple[int, tuple]) -> tuple[int, dict]:
    index, task = item
    return index, _run_task(task)


def task_key(task: tuple) -> tuple:
    """What identifies a run: setting, method as recorded (with its tag), shots, seed, --base, --steps."""
    name, setting, method, shots, seed, steps, _samples, _overrides, tag = task
    recorded = f"{method}[{tag}]" if tag and method not in REFERENCE_ROWS else method
    adapted_steps = steps if method not in REFERENCE_ROWS else None
    return name, recorded, shots, seed, setting.get("base_override"), adapted_steps


def recorded_runs(path: Path) -> set[tuple]:
    """The ``task_key`` of every run recorded in ``path`` (none when it does not exist yet)."""
    if not path.is_file():
        return set()
    keys = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            r = json.loads(line)
            steps = None if r["method"] in REFERENCE_ROWS else r.get("steps")
            keys.add((r["setting"], r["method"], r["shots"], r["seed"], r.get("base"), steps))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}, line {number}: not a harness record ({exc})") from None
    return keys


def parse_overrides(items: list[str]) -> dict:
    """``["lr_generator=0.05", "pose_mixup=false"]`` -> typed field values (JSON literals, else text)."""
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants FIELD=VALUE, got {item!r}")
        python_literals = {"True": True, "False": False, "None": None}  # as Python spells them, too
        try:
            overrides[key] = python_literals[text] if text in python_literals else json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


def table(records: list[dict], notes: dict[str, str]) -> str:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    skipped = sorted({f"{r['setting']} at {r['shots']} shots ({r['skipped']})" for r in records if "skipped" in r})
    records = [r for r in records if "skipped" not in r]
    for r in records:
        groups[(r["setting"], r["shots"], r["method"])].append(r)
    lines = []
    for setting in dict.fromkeys(r["setting"] for r in records):
        bases = sorted({r["base"] for r in records if r["setting"] == setting and "base" in r})
        lines += [f"\n### {setting}" + (f" ({notes[setting]})" if setting in notes else "")
                  + (f"\n\nBase: {', '.join(bases)} (`--base`), not the bundled one." if bases else ""), "",
                  ("| shots | method | seeds | nn1 (lower better) | nn1 - source, same latents | coverage | precision "
                   "| recall | memorization / chance | adapt s | trainable |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        # By shots; within a number of shots the reference rows, tau, then the others as first run.
        order = {key: i for i, key in enumerate(groups)}
        for (s, shots, method), rows in sorted(groups.items(), key=lambda item: (
                item[0][1], item[0][2] not in REFERENCE_ROWS, item[0][2] != "tau", order[item[0]])):
            if s != setting:
                continue

            def ms(key: str, rows: list[dict] = rows) -> str:
                vals = [r[key] for r in rows if key in r]
                return f"{np.mean(vals):.3f} +- {np.std(vals):.3f}" if vals else "-"

            source = {r["seed"]: r for r in groups.get((s, shots, "source"), [])}
            paired = [r["nn1"] - source[r["seed"]]["nn1"] for r in rows if r["seed"] in source]
            paired_text = (f"{np.mean(paired):+.4f} ({', '.join(f'{d:+.3f}' for d in paired)})"
                           if paired and method not in REFERENCE_ROWS else "-")
            mem = [r["memorization"] / r["memorization_chance"] for r in rows if "memorization" in r]
            adapt_s = [r["adapt_seconds"] for r in rows if "adapt_seconds" in r]
            mem_text = f"{np.mean(mem):.2f}x" if mem else "-"
            cost = (f"{np.mean(adapt_s):.1f} | {rows[0].get('trainable_parameters', '-')}" if adapt_s else "- | -")
            lines.append(f"| {shots} | {method} | {len(rows)} | {ms('nn1')} | {paired_text} | {ms('coverage')} | "
                         f"{ms('precision')} | "
                         f"{ms('recall')} | {mem_text} | {cost} |")
    lines += [f"\nSkipped: {text}" for text in skipped]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="folder holding mpii/, lspet/, coco/, 300w_helen/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--settings", default=None, help="comma-separated settings (default: all but those marked opt_in, measured with their own --base)")
    p.add_argument("--methods", default=None, help="comma-separated; default: reference rows + all methods")
    p.add_argument("--shots", default="10")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=AdaptConfig.steps)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes sharing the cores)")
    p.add_argument("--rebuild_table", action="store_true",
                   help="only rewrite table.md from runs.jsonl (the latest record of each run wins)")
    p.add_argument("--quick", action="store_true", help="one seed, 20 steps, 500 samples, few methods")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override an AdaptConfig / MethodOptions field for the adapted rows (repeatable)")
    p.add_argument("--tag", default=None, help="suffix for the method names of rows run with --set")
    p.add_argument("--resume", action="store_true",
                   help="skip the runs --out/runs.jsonl already holds (same setting, method and tag, shots, seed, "
                        "--base and --steps), so a killed sweep carries on where it stopped")
    p.add_argument("--base", action="append", default=[], metavar="NAME=DIR",
                   help="use the generator in DIR wherever a setting names the bundled NAME (a candidate "
                        "checkpoint measured before it is bundled; rows record the directory)")
    args = p.parse_args(argv)
    methods = args.methods.split(",") if args.methods else [*REFERENCE_ROWS, *METHODS]
    if args.quick:
        args.seeds, args.steps, args.samples = 1, 20, 500
        methods = args.methods.split(",") if args.methods else ["floor", "source", "repeat_shots", "tau"]
    all_settings = settings(args.data)
    for item in args.base:
        name, sep, directory = item.partition("=")
        if not sep or not directory:
            raise SystemExit(f"--base wants NAME=DIR, got {item!r}")
        if not (Path(directory) / "config.json").is_file():
            raise SystemExit(f"--base {item}: no generator there (config.json missing)")
        uses = [setting for setting in all_settings.values() if setting["base"] == name]
        if not uses:
            bundled = sorted({setting["base"] for setting in all_settings.values()})
            raise SystemExit(f"--base {item}: no setting uses {name!r} (they use {', '.join(bundled)})")
        for setting in uses:
            setting.update(base=directory, base_override=item)
    notes = {k: v["note"] for k, v in all_settings.items() if "note" in v}
    if args.rebuild_table:
        latest = {}
        for line in (args.out / "runs.jsonl").read_text().splitlines():
            r = json.loads(line)
            latest[(r["setting"], r["shots"], r["method"], r["seed"])] = r
        md = table(list(latest.values()), notes)
        (args.out / "table.md").write_text(md + "\n")
        print(md)
        return list(latest.values())
    # Settings marked opt_in (measured apart, with their own base) run only when named.
    chosen = args.settings.split(",") if args.settings else [k for k, v in all_settings.items() if not v.get("opt_in")]
    args.out.mkdir(parents=True, exist_ok=True)
    overrides = parse_overrides(args.set)
    tasks = [(name, all_settings[name], method, shots, seed, args.steps, args.samples, overrides, args.tag)
             for name in chosen for shots in [int(s) for s in args.shots.split(",")]
             for method in methods for seed in range(args.seeds)]
    if args.resume:
        done = recorded_runs(args.out / "runs.jsonl")
        left = [task for task in tasks if task_key(task) not in done]
        print(f"--resume: {len(tasks) - len(left)} of {len(tasks)} runs already in {args.out / 'runs.jsonl'}",
              file=sys.stderr)
        tasks = left
    records, started = [], time.perf_counter()
    with open(args.out / "runs.jsonl", "a") as fh:
        def keep(record: dict) -> None:
            records.append(record)
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            print(json.dumps(record), file=sys.stderr, flush=True)

        if args.jobs <= 1:
            for task in tasks:
                keep(_run_task(task))
        else:
            # Each worker gets an equal share of the cores; spawn keeps torch's thread pools separate.
            threads = max(1, (os.cpu_count() or 1) // args.jobs)
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(threads,)) as pool:
                # Each record is written as soon as its run ends, so a kill loses only the runs in flight;
                # the returned records keep the task order.
                finished = []  # task index of each record, in the order records were kept
                for index, record in pool.imap_unordered(_run_indexed, enumerate(tasks)):
                    finished.append(index)
                    keep(record)
                records = [record for _, record in sorted(zip(finished, records), key=lambda pair: pair[0])]
    md = table(records, notes) + (f"\n\n{len(records)} runs in {(time.perf_counter() - started) / 60:.1f} min "
                                  f"of wall time ({args.jobs} at a time, {os.cpu_count()} CPU cores).")
    (args.out / "table.md").write_text(md + "\n")
    print(md)
    return records


if __name__ == "__main__":
    main()
