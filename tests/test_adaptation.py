import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from flexpose_hf import CheckpointError, FlexPoseError, FlexPoseGenerator, FlexPoseGeneratorConfig
from flexpose_hf.adaptation import MethodOptions
from flexpose_hf.adaptation.run import run_adaptation, select_shots
from flexpose_hf.adaptation.trainer import AdaptConfig, adapt
from flexpose_hf.cli import main
from flexpose_hf.io import load_poses
from flexpose_hf.loading import load_generator, sample_poses
from flexpose_hf.metrics import LIMB_JOINTS
from flexpose_hf.skeletons import get_skeleton

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "flexpose_hf" / "data" / "coco_demo_10.json"


@pytest.mark.parametrize("method", ["tau", "lora", "lora_all", "finetune", "freezed", "adaptor"])
def test_each_method_adapts_saves_and_reloads(tiny_base, tmp_path, method):
    out = tmp_path / method
    metrics = run_adaptation(str(DEMO), str(out), base=str(tiny_base), method=method, steps=3, num_samples=20,
                             progress=False, hub_dataset_id="someone/dance-poses")
    assert metrics["num_shots"] == 10 and metrics["trainable_parameters"] > 0
    assert (out / "README.md").exists() and (out / "grid.png").exists()
    assert not (out / "checkpoints").exists()
    samples = load_poses(out / "samples.json")
    assert len(samples) == 20
    card = (out / "README.md").read_text()
    header = card.split("---")[1]
    assert "datasets:\n- someone/dance-poses" in header
    assert "base_model:" not in header and "base_model_relation" not in header, "a local base has no Hub id; the Hub refuses paths as base_model"
    assert f"`{tiny_base}` (a local folder)" in card and "$" not in card.split("```bibtex")[0]
    assert "library_name: flexpose_hf" in header
    assert ("- peft" in header) == (method in ("tau", "lora", "lora_all"))
    model = load_generator(str(tiny_base), str(out))
    reloaded = sample_poses(model, 20, seed=0)
    from flexpose_hf.codec import unit_to_canvas

    written = np.asarray(samples.with_format("numpy")["keypoints"])
    np.testing.assert_allclose(unit_to_canvas(reloaded, 257, margin=0.1), written, atol=0.02)
    if method in ("tau", "lora", "lora_all"):
        assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_base)
    # 10 shots against a prior worth 30: the prior keeps 75%, and so does Linear & Sparse (tau only)
    assert metrics["strength"]["prior_share"] == pytest.approx(0.75) and "weigh 75% of their configured" in card
    assert "25% of the training targets came from the shots and their mirror images, the other 75% from" in card
    # all 10 demo poses are shots: the card says why it has no metrics and how to get them
    assert "Every target pose was used as a shot (10)" in card and "give `--shots` fewer" in card
    assert ("l1_weight" in metrics) == (method == "tau") and metrics.get("l1_weight", 7.5e-5) == pytest.approx(7.5e-5)
    assert metrics.get("l1_offdiagonal_weight", 2.0) == 2.0 and ("off-diagonal entries 2x" in card) == (method == "tau")


def test_tau_changes_the_generator_and_stays_small(tiny_base, tmp_path):
    metrics = run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=5, progress=False)
    # full tau: one (d x d + d) map per style layer and per mapping layer, about a fifth of the generator
    assert metrics["trainable_parameters"] / metrics["generator_parameters"] < 0.25
    weights = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for v in weights.values())


def test_bad_inputs_are_refused_before_writing(tiny_base, tmp_path, shared_data):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FlexPoseError, match="exists and is not empty; pass --overwrite"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), steps=2, progress=False)
    assert os.listdir(out) == ["keep.txt"]
    with pytest.raises(FlexPoseError, match="steps must be >= 1"):
        run_adaptation(str(DEMO), str(tmp_path / "s0"), base=str(tiny_base), steps=0, progress=False)
    with pytest.raises(FlexPoseError, match="shares only 0 joints"):
        run_adaptation(str(shared_data / "300w_helen/testset"), str(tmp_path / "f"), base=str(tiny_base),
                       steps=2, progress=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(FlexPoseError, match="not writable|is a file"):
        run_adaptation(str(DEMO), str(blocker / "sub"), base=str(tiny_base), steps=2, progress=False)
    with pytest.raises(FlexPoseError, match="asked for 50 shots but only 10"):
        run_adaptation(str(DEMO), str(tmp_path / "k"), base=str(tiny_base), shots=50, steps=2, progress=False)


def test_refused_settings_leave_the_output_dir_untouched(tiny_base, tmp_path, capsys):
    """Settings that cannot run are refused before --overwrite removes the previous outputs."""
    from flexpose_hf.cli import main

    out = tmp_path / "previous"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for kwargs, message in (({"steps": 0}, "steps must be >= 1"),
                            ({"config_overrides": {"checkpointing_steps": 0}}, "checkpointing_steps must be >= 1"),
                            ({"options": MethodOptions(layers=[99])}, r"layers \[99\] do not exist"),
                            ({"options": MethodOptions(layers=[0, 0])}, "repeat a layer"),
                            ({"method": "lora", "options": MethodOptions(layers=[-1])}, "do not exist")):
        with pytest.raises(FlexPoseError, match=message):
            run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                           **{"steps": 2, **kwargs})
        assert os.listdir(out) == ["keep.txt"]
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--layers", "a,b",
                 "--output-dir", str(tmp_path / "new")]) == 2
    assert "--layers wants comma-separated style-layer numbers" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_adapter_for_another_base_is_refused(tiny_base, tmp_path):
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    other = FlexPoseGenerator(FlexPoseGeneratorConfig(channels=[16, 16, 8], z_dim=8, w_dim=32, mapping_layers=2))
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="different base model.*w_dim"):
        load_generator(str(tmp_path / "other"), str(tmp_path / "a"))


def test_broken_adapter_files_are_clear_errors(tiny_base, tmp_path, monkeypatch):
    """A truncated or missing weights file, malformed JSON and an unknown base name each name the problem."""
    import shutil

    good = tmp_path / "good"
    run_adaptation(str(DEMO), str(good), base=str(tiny_base), steps=2, progress=False)
    weights = (good / "adapter_model.safetensors").read_bytes()
    cases = {
        "truncated": (lambda d: (d / "adapter_model.safetensors").write_bytes(weights[:-10]), "truncated safetensors"),
        "headless": (lambda d: (d / "adapter_model.safetensors").write_bytes(weights[:50]), "truncated safetensors"),
        "missing": (lambda d: (d / "adapter_model.safetensors").unlink(), "missing"),
        "config": (lambda d: (d / "adapter_config.json").write_text('{"peft_type": "TAU",'),
                   r"adapter_config.json: malformed JSON at line 1"),
        "fingerprint": (lambda d: (d / "flexpose_base.json").write_text("[1]"), "no 'config' object"),
    }
    for name, (damage, message) in cases.items():
        broken = tmp_path / name
        shutil.copytree(good, broken)
        damage(broken)
        with pytest.raises(CheckpointError, match=message):
            load_generator(str(tiny_base), str(broken))
    load_generator(str(tiny_base), str(good))  # the undamaged copy still loads
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # no network wait in the test
    with pytest.raises(CheckpointError, match="not a bundled generator .* not a Hub repo found"):
        FlexPoseGenerator.from_pretrained("no-such-base")
    with pytest.raises(FlexPoseError, match="seed must be >= 0"):
        run_adaptation(str(DEMO), str(tmp_path / "neg"), base=str(tiny_base), seed=-1, steps=2, progress=False)
    assert not (tmp_path / "neg").exists()


def test_cli_sample_with_adapter(tiny_base, tmp_path):
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    out = tmp_path / "s.json"
    assert main(["sample", "--base", str(tiny_base), "--adapter", str(tmp_path / "a"), "--num-samples", "7",
                 "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == 7 and doc["categories"][0]["keypoints"][0] == "right_ankle"
    assert main(["sample", "--base", str(tiny_base), "--num-samples", "5", "--output", str(tmp_path / "s.npz")]) == 0
    assert len(load_poses(tmp_path / "s.npz")) == 5


def _adapt_cmd(base, out, steps, extra=()):
    return [sys.executable, str(REPO / "examples" / "adapt.py"), "--base", str(base), "--target", str(DEMO),
            "--steps", str(steps), "--checkpointing_steps", "4", "--num_samples", "5", "--output_dir", str(out),
            *extra]


def test_killed_run_resumes_to_the_same_adapter(tiny_base, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_adapt_cmd(tiny_base, full, 40), check=True, capture_output=True, env=env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_adapt_cmd(tiny_base, killed, 40), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "checkpoint-8").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "adapter_model.safetensors").exists(), "killed before finishing"
    resume = ["--resume_from_checkpoint", "latest"]
    other = subprocess.run(_adapt_cmd(tiny_base, killed, 40, [*resume, "--seed", "3"]), check=False,
                           capture_output=True, text=True, env=env)  # other latents and shots: refused
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert "seed: checkpoint 0, this run 3" in other.stderr
    subprocess.run(_adapt_cmd(tiny_base, killed, 40, ["--resume_from_checkpoint", "latest"]), check=True,
                   capture_output=True, env=env)
    a = load_file(str(full / "adapter_model.safetensors"))
    b = load_file(str(killed / "adapter_model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)


def test_two_process_data_parallel_adaptation(tiny_base, tmp_path):
    out = tmp_path / "mp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(REPO / "examples" / "adapt.py"), "--base", str(tiny_base), "--target", str(DEMO), "--steps", "4",
           "--num_samples", "5", "--output_dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The two ranks print concurrently, so their lines may interleave: match the pairs anywhere.
    sums = dict(re.findall(r"(\[rank \d/2\]) trained parameter checksum ([-+0-9.eE]+\d)", proc.stdout))
    assert set(sums) == {"[rank 0/2]", "[rank 1/2]"}
    assert sums["[rank 0/2]"] == sums["[rank 1/2]"], "ranks ended with different weights"
    assert proc.stdout.count("trainable numbers") == 1, "only the main process reports and writes"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "adapt_config.json", "adapter_config.json", "adapter_model.safetensors",
         "flexpose_base.json", "grid.png", "metrics.json", "samples.json", "shots.json"])


def _demo_shots() -> np.ndarray:
    from flexpose_hf.training.data import to_unit_poses

    return to_unit_poses(np.asarray(load_poses(DEMO, skeleton="mpii16").with_format("numpy")["keypoints"]))


def test_strength_grows_with_distinct_shots_and_counts_repeats_once():
    from flexpose_hf.adaptation import choose_strength

    shots = _demo_shots()
    mask = ~np.isnan(shots).any(-1).any(0)
    weights = [choose_strength(shots[:k], mask, prior_shots=30).target_weight for k in (1, 5, 10)]
    assert weights == pytest.approx([1 / 31, 5 / 35, 10 / 40])
    repeated = choose_strength(np.repeat(shots[:1], 10, axis=0), mask, prior_shots=30)
    assert repeated.shots == 10 and repeated.distinct_shots == 1 and repeated.target_weight == pytest.approx(1 / 31)
    assert choose_strength(shots, mask, prior_shots=0).target_weight == 1.0


def test_energy_distance_prefers_the_matching_set():
    from flexpose_hf.adaptation.objective import energy_distance

    gen = torch.Generator().manual_seed(0)
    target = torch.randn(400, 6, generator=gen)
    same = torch.randn(400, 6, generator=gen)
    moved = same + torch.tensor([1.0, 0, 0, 0, 0, 0])
    assert float(energy_distance(target, target)) == pytest.approx(0.0, abs=1e-5)
    assert 0 < float(energy_distance(same, target)) < 0.05
    assert float(energy_distance(moved, target)) > 0.1 and float(energy_distance(0.5 * same, target)) > 0.1
    # Weights: the mixture of two sets, weighted 1/4 and 3/4, matches a sample drawn in those shares.
    far = target + 3.0
    weights = torch.cat([torch.full((400,), 0.25 / 400), torch.full((400,), 0.75 / 400)])
    mixed = torch.cat([same[:100], far[100:]])
    assert float(energy_distance(mixed, torch.cat([target, far]), weights)) < 0.05
    assert float(energy_distance(same, torch.cat([target, far]), weights)) > 1.0


@pytest.mark.parametrize("name", ["energy", "mmd", "sinkhorn"])
def test_every_divergence_is_zero_at_the_target_and_prefers_it(name):
    """Each loss: 0 on the weighted target itself, small on a fresh sample of it, larger on a shifted,
    shrunk or widened sample, and it matches a weighted mixture by its weights (not its counts)."""
    from flexpose_hf.adaptation.objective import make_divergence

    gen = torch.Generator().manual_seed(0)
    target = torch.randn(600, 12, generator=gen)
    uniform = torch.full((600,), 1 / 600)
    loss = make_divergence(name, target, uniform)
    assert float(loss(target)) == pytest.approx(0.0, abs=1e-4)
    same = torch.randn(256, 12, generator=gen)
    for worse in (same + 0.7, 0.5 * same, 1.5 * same):
        assert float(loss(worse)) > 2 * float(loss(same))
    far = target + 4.0
    weights = torch.cat([torch.full((600,), 0.25 / 600), torch.full((600,), 0.75 / 600)])
    mixture_loss = make_divergence(name, torch.cat([target, far]), weights)
    in_shares = torch.cat([same[:64], same[64:] + 4.0])
    assert float(mixture_loss(in_shares)) < 0.5 * float(mixture_loss(torch.cat([same[:128], same[128:] + 4.0])))
    x = same.clone().requires_grad_(True)
    loss(x + 0.5).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_target_set_mixes_prior_and_shot_pool_by_the_strength(tiny_base):
    from flexpose_hf.adaptation.objective import TargetSet
    from flexpose_hf.adaptation.pool import shot_pool
    from flexpose_hf.poses import origin_joints

    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    shots = _demo_shots()
    mask = ~np.isnan(shots).any(-1).any(0)
    pool = shot_pool(shots, "mpii16", mask, flip=True)
    assert len(pool) == 2 * len(shots)  # the COCO-derived joint set is left/right symmetric
    origin = origin_joints("mpii16", mask)
    z = torch.randn(64, base.config.z_dim)
    for weight in (0.0, 0.25, 1.0):
        targets = TargetSet.build(base, z, pool, "mpii16", mask, origin, 300, weight, 0.5, seed=0)
        assert len(targets.vectors) == 64 + targets.from_shots
        # 150 draws of the 20 pool poses (+ 150 mixtures) are merged into weighted distinct rows.
        assert (0 < targets.from_shots <= len(pool) + 150) if weight else targets.from_shots == 0
        assert float(targets.weights[64:].sum()) == pytest.approx(weight)
        assert float(targets.weights.sum()) == pytest.approx(1.0)
    only_shots = TargetSet.build(base, z, pool, "mpii16", mask, origin, 300, 1.0, 0.0, seed=0)
    assert only_shots.from_shots <= len(pool)  # no mixup: only pool poses, each once
    # Each pool pose weighs as often as it was drawn: redraw the same 300 and count them.
    from flexpose_hf.adaptation.pool import augmented_pool

    drawn = augmented_pool(pool, "mpii16", mask, 300, 0.0, np.random.default_rng([0, 17])).astype(np.float32)
    _, counts = np.unique(drawn.reshape(300, -1), axis=0, return_counts=True)
    assert sorted(only_shots.weights[64:].tolist()) == pytest.approx(sorted(counts / 300))


def test_merging_repeated_targets_keeps_every_divergence():
    from flexpose_hf.adaptation.objective import DIVERGENCES

    gen = torch.Generator().manual_seed(0)
    distinct, x = torch.randn(7, 24, generator=gen), torch.randn(40, 24, generator=gen)
    counts = torch.tensor([1, 5, 2, 9, 1, 3, 4])
    expanded = distinct.repeat_interleave(counts, dim=0)
    for name, build in DIVERGENCES.items():
        merged = build(distinct, counts.float() / counts.sum(), 2.0)(x)
        uniform = torch.full((len(expanded),), 1 / len(expanded))
        assert float(merged) == pytest.approx(float(build(expanded, uniform, 2.0)(x)), rel=1e-4, abs=1e-6), name


def test_without_evidence_the_source_is_the_optimum(tiny_base):
    from flexpose_hf.adaptation import AdaptConfig, adapt

    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    result = adapt(base, _demo_shots(), AdaptConfig(steps=5, prior_shots=1e9), progress=False)
    assert all(h["divergence"] == pytest.approx(0.0, abs=1e-6) for h in result.history)
    assert all(float(p.detach().abs().max()) == 0 for p in result.adapted.trainable)


def test_training_lowers_the_divergence_toward_the_shots(tiny_base):
    from flexpose_hf.adaptation import AdaptConfig, adapt

    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    result = adapt(base, _demo_shots(), AdaptConfig(steps=15, prior_shots=0.0, lr_generator=0.02), progress=False)
    energies = [h["divergence"] for h in result.history]
    assert len(energies) == 15 and energies[-1] < 0.8 * energies[0]
    assert result.strength.target_weight == 1.0
    mapping = base.config.mapping_layers * [base.config.w_dim]  # full form, every style and mapping layer
    assert result.adapted.num_trainable == sum(d * d + d for d in [*base.phi.style_dims, *mapping])


@pytest.mark.parametrize("divergence", ["mmd", "sinkhorn"])
def test_other_divergences_train_toward_the_shots(tiny_base, divergence):
    from flexpose_hf.adaptation import AdaptConfig, adapt

    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    config = AdaptConfig(steps=15, prior_shots=0.0, lr_generator=0.02, divergence=divergence)
    losses = [h["divergence"] for h in adapt(base, _demo_shots(), config, progress=False).history]
    assert len(losses) == 15 and losses[-1] < 0.8 * losses[0]


def test_metrics_json_scores_adapted_and_source_against_the_held_out_poses(tiny_base, tmp_path, capsys):
    """With poses left over after --shots, metrics.json scores both generators on them, each with its
    rate of samples nearest a shot (the source's is the yardstick for the adapted one's), and the
    command prints the two side by side."""
    out = tmp_path / "a"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(out), "--steps", "2",
                 "--shots", "3", "--num-samples", "4"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_shots"] == 3 and metrics["held_out_poses"] == 7
    assert "pelvis" in metrics["joints_judged"]  # trained on every joint the COCO demo gives the base...
    assert metrics["joints_compared"] == list(LIMB_JOINTS)  # ...scored on the protocol's 12 limb joints
    assert "Against the 7 target poses not used as shots, 2,000 samples each, on 12 joints (left_shoulder" in (
        out / "README.md").read_text()
    for side in ("adapted", "source"):
        assert 0 <= metrics[side]["memorization"] <= 1 and metrics[side]["memorization_chance"] == pytest.approx(3 / 10)
        assert 0.5 <= metrics[side]["nn1"] <= 1
    assert "source (unadapted)" in (out / "README.md").read_text()
    printed = capsys.readouterr().out
    assert "tau: 3 shots (3 distinct) against a prior worth 30 -> pool weight 0.091; 2 steps" in printed
    assert "against the 7 target poses not used as shots" in printed
    nn1_row = next(line for line in printed.splitlines() if line.startswith("nn1"))
    source, adapted, change = (float(x) for x in nn1_row.split()[-3:])
    assert (source, adapted) == (round(metrics["source"]["nn1"], 3), round(metrics["adapted"]["nn1"], 3))
    assert change == pytest.approx(metrics["adapted"]["nn1"] - metrics["source"]["nn1"], abs=1e-3)


def test_adapt_reads_a_keypoint_layout_no_skeleton_has_by_joint_name(tiny_base, tmp_path):
    """The demo poses rewritten in CrowdPose's 14-joint layout (head and neck instead of COCO's face
    points): the shots convert to the base by joint name, and shots.json keeps the file's own layout."""
    from flexpose_hf import load_poses, pose_arrays
    from flexpose_hf.skeletons import get_skeleton

    coco = get_skeleton("coco17")
    kp, _ = pose_arrays(load_poses(DEMO))
    names = list(LIMB_JOINTS) + ["head", "neck"]
    rows = [[kp[i, coco.index(n)] for n in LIMB_JOINTS] + [kp[i, coco.index("nose")],
            (kp[i, coco.index("left_shoulder")] + kp[i, coco.index("right_shoulder")]) / 2] for i in range(len(kp))]
    target = tmp_path / "crowdpose.json"
    target.write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(len(rows))],
        "annotations": [{"id": i, "image_id": i, "keypoints": [v for x, y in row for v in (float(x), float(y), 2)]}
                        for i, row in enumerate(rows)],
        "categories": [{"id": 1, "name": "person", "keypoints": names}]}))
    out = tmp_path / "a"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(target), "--output-dir", str(out), "--steps", "2",
                 "--shots", "4", "--num-samples", "4"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["joints_judged"]) == {*LIMB_JOINTS, "pelvis"} and metrics["held_out_poses"] == 6
    shots = json.loads((out / "shots.json").read_text())
    assert shots["categories"][0]["keypoints"] == names


def test_the_cards_command_reproduces_a_run_with_non_default_settings(tiny_base, tmp_path):
    """Every setting changed from its default appears in the card's command, and running that command
    trains the same adapter."""
    first = tmp_path / "first"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(first), "--steps", "3",
                 "--shots", "6", "--seed", "2", "--prior-shots", "12.5", "--divergence", "energy", "--layers", "0,1",
                 "--tau-form", "lowrank", "--tau-rank", "2", "--no-tau-mapping", "--sparsity-weight", "0.001",
                 "--tau-offdiagonal-weight", "3", "--pose-mixup", "--learning-rate", "0.004", "--num-samples", "4"]) == 0
    assert json.loads((first / "metrics.json").read_text())["learning_rate"] == 0.004
    line = next(x for x in (first / "README.md").read_text().splitlines() if "flexpose adapt --base" in x)
    command = re.search(r"`(flexpose adapt [^`]+)`", line).group(1)
    for flag in ("--prior-shots 12.5", "--divergence energy", "--layers 0,1", "--tau-form lowrank", "--tau-rank 2",
                 "--no-tau-mapping", "--sparsity-weight 0.001", "--tau-offdiagonal-weight 3", "--pose-mixup",
                 "--learning-rate 0.004", "--shots 6", "--seed 2", "--steps 3"):
        assert f" {flag}" in command, flag
    again = tmp_path / "again"
    assert main([*command.split()[1:], "--output-dir", str(again), "--num-samples", "4"]) == 0
    a, b = (load_file(str(d / "adapter_model.safetensors")) for d in (first, again))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_adapt_warns_when_the_adapted_generator_scores_worse_than_the_source(caplog):
    """Beyond one draw's noise the command says so and names the flag that pulls less."""
    from flexpose_hf.cli import warn_if_worse
    from flexpose_hf.metrics import NN1_NOISE

    def figures(nn1: float) -> dict:
        return {"nn1": nn1, "precision": 0.9, "recall": 0.9, "coverage": 0.9, "density": 1.0}

    for adapted, warned in ((0.60, False), (0.62 + NN1_NOISE / 2, False), (0.62 + 2 * NN1_NOISE, True)):
        caplog.clear()
        warn_if_worse({"source": figures(0.62), "adapted": figures(adapted)})
        assert ("--prior-shots" in caplog.text) is warned, adapted
    caplog.clear()
    warn_if_worse({"method": "tau"})  # no held-out poses: nothing to compare
    assert caplog.text == ""


def test_adapt_summary_says_how_the_strength_was_set():
    """Chosen by held-out shots (with both scores), set by the flag, or the few-shot fallback, named as such."""
    from flexpose_hf.cli import adapt_summary

    base = {"method": "tau", "steps": 200, "adapt_seconds": 20.0, "trainable_parameters": 35392,
            "strength": {"shots": 50, "distinct_shots": 50, "prior_shots": 30.0, "target_weight": 0.625}}
    chosen = {**base, "prior_shots_requested": None, "strength_selection": {
        "candidates": [{"prior_shots": 30.0, "steps": 200, "score": -1.5}, {"prior_shots": 10.0, "steps": 600,
                                                                           "score": -1.25}],
        "chosen": 0, "held_out_shots": 10, "trained_on": 40, "difference": 0.25, "standard_error": 0.05}}
    text = adapt_summary(chosen)
    assert "chosen by 10 held-out shots" in text and "prior 10 / 600 steps -1.250" in text and "all 50" in text
    assert "difference +0.250, standard error 0.050" in text and "200 steps (after 800 choosing the strength)" in text
    assert "set by --prior-shots" in adapt_summary({**base, "prior_shots_requested": 30.0})
    assert "fewer than 50 distinct shots" in adapt_summary({**base, "prior_shots_requested": None})


def test_held_out_shots_are_a_seeded_fifth_of_the_distinct_poses_with_repeats_kept_together():
    from flexpose_hf.adaptation.selection import MIN_DISTINCT_SHOTS, split_held_out

    rng = np.random.default_rng(0)
    poses = rng.normal(size=(60, 16, 2))
    shots = np.concatenate([poses, poses[:10]])  # ten poses given twice
    mask = np.ones(16, bool)
    kept, held = split_held_out(shots, mask, seed=3)
    assert len(kept) + len(held) == len(shots) and 12 <= len(held) <= 14  # 12 distinct poses, some twice
    key = lambda a: {tuple(np.round(p.ravel(), 6)) for p in a}
    assert not key(kept) & key(held)  # a repeated pose never sits on both sides
    assert np.array_equal(split_held_out(shots, mask, seed=3)[1], held)
    assert not np.array_equal(split_held_out(shots, mask, seed=4)[1], held)
    with pytest.raises(FlexPoseError, match=f"needs {MIN_DISTINCT_SHOTS} distinct shots, got 49"):
        split_held_out(np.repeat(poses[:49], 2, axis=0), mask, seed=0)


def test_the_prior_free_strength_must_win_by_more_than_one_standard_error():
    from flexpose_hf.adaptation.selection import one_standard_error_choice

    prior = np.array([0.80, 0.80, 0.81, 0.79, 0.80])  # all held-out shots, then each left out
    assert one_standard_error_choice(prior, prior - 0.05)[0] == 1  # closer on every jackknife replicate
    chosen, difference, se = one_standard_error_choice(prior, np.array([0.78, 0.70, 0.86, 0.74, 0.83]))
    assert chosen == 0 and difference == pytest.approx(-0.02) and se > 0.02  # closer, but within the noise
    assert one_standard_error_choice(prior, prior + 0.05)[0] == 0


def _sampled_target(base_dir: Path, path: Path, count: int) -> Path:
    """``count`` poses the generator at ``base_dir`` draws, written as a COCO file (a target with many shots)."""
    from flexpose_hf.codec import unit_to_canvas
    from flexpose_hf.io.export import write_coco

    poses = sample_poses(FlexPoseGenerator.from_pretrained(base_dir), count, seed=11)
    write_coco(path, unit_to_canvas(poses, 201, margin=0.1), "mpii16", 200, 200)
    return path


def test_held_out_shots_choose_the_strength_then_every_shot_trains_it(tiny_base, tmp_path, caplog):
    """With 50+ distinct shots the strength is chosen by held-out shots, recorded in metrics.json and the card,
    and the adapter equals a plain run at the chosen strength on every shot; a resumed run reuses the choice."""
    target = _sampled_target(tiny_base, tmp_path / "many.json", 70)
    out = tmp_path / "chosen"
    args = ["adapt", "--base", str(tiny_base), "--target", str(target), "--shots", "60", "--steps", "4",
            "--num-samples", "4", "--checkpointing-steps", "2"]
    assert main([*args, "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    selection = metrics["strength_selection"]
    assert (selection["held_out_shots"], selection["trained_on"]) == (12, 48)
    assert [(c["prior_shots"], c["steps"]) for c in selection["candidates"]] == [(30.0, 4), (10.0, 12)]
    best = selection["candidates"][selection["chosen"]]
    prior, challenger = (c["score"] for c in selection["candidates"])
    assert selection["difference"] == pytest.approx(challenger - prior) and selection["standard_error"] >= 0
    assert selection["chosen"] == int(selection["difference"] < -selection["standard_error"])
    assert (metrics["strength"]["prior_shots"], metrics["steps"]) == (best["prior_shots"], best["steps"])
    assert "chosen by 12 held-out shots" in (out / "README.md").read_text()
    plain = tmp_path / "plain"
    assert main([*args, "--output-dir", str(plain), "--prior-shots", str(best["prior_shots"]),
                 "--steps", str(best["steps"])]) == 0
    a, b = (load_file(str(d / "adapter_model.safetensors")) for d in (out, plain))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    from flexpose_hf.training.data import to_unit_poses

    picked = select_shots(str(target), "mpii16", None, 60, 0)
    checkpoints = tmp_path / "resumed"
    config = AdaptConfig(steps=4, checkpointing_steps=2)
    reports = []  # a progress callback (the browser demo's) sees one run: the candidates' steps, then the final's
    first = adapt(FlexPoseGenerator.from_pretrained(tiny_base), to_unit_poses(picked.shots), config,
                  checkpoint_dir=checkpoints, progress=lambda done, total: reports.append((done, total)))
    assert [done for done, _ in reports] == list(range(1, len(reports) + 1))
    assert reports[-1] == (4 + 12 + best["steps"],) * 2
    assert (checkpoints / "selection.json").is_file() and any(checkpoints.glob("checkpoint-*"))
    caplog.clear()
    with caplog.at_level("INFO", logger="flexpose_hf.adaptation.trainer"):
        again = adapt(FlexPoseGenerator.from_pretrained(tiny_base), to_unit_poses(picked.shots), config,
                      checkpoint_dir=checkpoints, resume_from_checkpoint="latest", progress=False)
    assert "resuming with the strength chosen before" in caplog.text and "chose a prior" not in caplog.text
    assert again.selection.to_dict() == first.selection.to_dict() == selection


def test_fewer_distinct_shots_than_the_selection_needs_fall_back_to_the_fixed_prior(tiny_base, tmp_path, capsys):
    """60 shots that are 30 poses each given twice: no selection, the fixed prior, and the summary says why."""
    from flexpose_hf.adaptation.strength import DEFAULT_PRIOR_SHOTS

    target = _sampled_target(tiny_base, tmp_path / "few.json", 30)
    doc = json.loads(target.read_text())
    doubled = [dict(a, id=a["id"] + 1000 * k) for k in range(2) for a in doc["annotations"]]
    target.write_text(json.dumps({**doc, "annotations": doubled}))
    out = tmp_path / "fallback"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(target), "--shots", "55", "--steps", "3",
                 "--num-samples", "4", "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "strength_selection" not in metrics and metrics["steps"] == 3
    assert metrics["strength"]["prior_shots"] == DEFAULT_PRIOR_SHOTS
    assert metrics["strength"]["distinct_shots"] < 50
    assert "fewer than 50 distinct shots" in capsys.readouterr().out


def test_cli_adapt_no_tau_mapping_keeps_tau_on_the_style_codes(tiny_base, tmp_path):
    out = tmp_path / "a"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(out), "--steps", "2",
                 "--no-tau-mapping", "--num-samples", "4"]) == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["mapping"] is False and all(name.startswith("A.") for name in adapter["target_modules"])
    assert "on the style layers only" in (out / "README.md").read_text()
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainable_parameters"] == sum(d * d + d for d in base.phi.style_dims)


def test_pose_mixup_is_off_by_default_and_on_with_its_flag(tiny_base, tmp_path):
    cards = {}
    for name, flags in (("default", []), ("mixup", ["--pose-mixup"])):
        out = tmp_path / name
        assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(out),
                     "--steps", "1", "--num-samples", "4", *flags]) == 0
        cards[name] = (out / "README.md").read_text()
        assert json.loads((out / "adapt_config.json").read_text())["pose_mixup"] is bool(flags)
    assert "pose-mixup off" in cards["default"] and "pose-mixup pairs" not in cards["default"]
    assert "pose-mixup on" in cards["mixup"] and "their mirror images and pose-mixup pairs" in cards["mixup"]


def test_cli_adapt_with_lowrank_tau_and_sinkhorn_records_both(tiny_base, tmp_path):
    out = tmp_path / "a"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(out), "--steps", "3",
                 "--tau-form", "lowrank", "--tau-rank", "2", "--divergence", "sinkhorn", "--num-samples", "4"]) == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["form"] == "lowrank" and adapter["rank"] == 2
    assert json.loads((out / "adapt_config.json").read_text())["divergence"] == "sinkhorn"
    card = (out / "README.md").read_text()
    assert "Sinkhorn divergence (`--divergence sinkhorn`)" in card and "tau form lowrank, rank 2" in card
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    metrics = json.loads((out / "metrics.json").read_text())
    mapping = base.config.mapping_layers * [base.config.w_dim]  # tau also maps every mapping layer's output
    assert metrics["trainable_parameters"] == sum(2 * 2 * d + d for d in [*base.phi.style_dims, *mapping])
    assert "tau form lowrank, rank 2 on the style layers and mapping network" in card
    assert "off-diagonal entries 2x" in card and adapter["offdiagonal_weight"] == 2.0  # U V's L1 is weighed too
    assert main(["sample", "--adapter", str(out), "--num-samples", "3", "--output", str(tmp_path / "s.json")]) == 0


def test_one_pose_repeated_runs_with_a_warning(tiny_base, tmp_path, caplog):
    doc = json.loads(DEMO.read_text())
    doc["annotations"] = [dict(doc["annotations"][0], id=i + 1) for i in range(5)]
    path = tmp_path / "same.json"
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        metrics = run_adaptation(str(path), str(tmp_path / "o"), base=str(tiny_base), steps=2, progress=False)
    assert "4 of the 5 shots repeat another shot" in caplog.text
    assert metrics["strength"]["distinct_shots"] == 1


def test_target_poses_lacking_a_joint_are_named_not_dropped_silently(tiny_base, tmp_path, caplog):
    from flexpose_hf.adaptation.run import select_shots

    doc = json.loads(DEMO.read_text())
    ankle = doc["categories"][0]["keypoints"].index("left_ankle")
    doc["annotations"][3]["keypoints"][3 * ankle: 3 * ankle + 3] = [0, 0, 0]  # COCO: not labelled
    path = tmp_path / "occluded.json"
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        picked = select_shots(str(path), "mpii16", None, None, 0)
    assert len(picked.shots) == 9 and 3 not in picked.rows
    assert "1 of 10 poses lack a joint the base needs and are not used (rows 3;" in caplog.text
    assert "left_ankle (1)" in caplog.text


def test_a_joint_no_pose_labels_is_left_out_not_every_pose(tiny_base, tmp_path, caplog):
    from flexpose_hf.adaptation.run import select_shots

    doc = json.loads(DEMO.read_text())
    ankle = doc["categories"][0]["keypoints"].index("left_ankle")
    for ann in doc["annotations"]:
        ann["keypoints"][3 * ankle: 3 * ankle + 3] = [0, 0, 0]
    path = tmp_path / "no_ankle.json"
    path.write_text(json.dumps(doc))
    with caplog.at_level("WARNING"):
        picked = select_shots(str(path), "mpii16", None, None, 0)
    assert len(picked.shots) == 10
    assert "no pose labels left_ankle; adapting on the other" in caplog.text
    assert np.isnan(picked.shots[:, get_skeleton("mpii16").index("left_ankle")]).all()
    metrics = run_adaptation(str(path), str(tmp_path / "o"), base=str(tiny_base), steps=2, progress=False)
    assert "left_ankle" not in metrics["joints_judged"] and "right_ankle" in metrics["joints_judged"]


def test_shot_groups_draw_shots_from_different_videos_and_hold_out_only_the_others(tiny_base, tmp_path, capsys):
    from flexpose_hf.adaptation.run import select_shots

    doc = json.loads(DEMO.read_text())
    frames = [dict(doc["annotations"][3 * v + f], id=10 * v + f + 1, image_id=10 * v + f + 1)
              for v in range(3) for f in range(3)]  # 3 videos x 3 frames, 9 different poses
    doc["images"] = [dict(doc["images"][0], id=a["id"], file_name=f"video{a['id'] // 10}/frame{a['id'] % 10}.jpg")
                     for a in frames]
    doc["annotations"] = frames
    path = tmp_path / "frames.json"
    path.write_text(json.dumps(doc))
    for seed in range(5):
        picked = select_shots(str(path), "mpii16", None, 2, seed, shot_groups=r"^(video\d+)/")
        videos = [picked.dataset[int(r)]["image"].split("/")[0] for r in picked.rows]
        assert len(set(videos)) == 2 and len(picked.held_out) == 3 and picked.grouping["left_out"] == 4
    out = tmp_path / "o"
    metrics = run_adaptation(str(path), str(out), base=str(tiny_base), shots=2, shot_groups=r"^(video\d+)/",
                             steps=2, progress=False)
    assert metrics["shot_groups"] == {"pattern": r"^(video\d+)/", "groups": 3, "left_out": 4}
    assert metrics["strength"]["distinct_shots"] == 2
    assert "--shot-groups" in (out / "README.md").read_text()
    for flags, message in ((["--shots", "4"], "only 3 groups"), (["--shots", "2", "--shot-groups", "^clip"],
                           "matches no part of the image name of 9 poses (row 0 'video0/frame1.jpg'"),
                           (["--shots", "2", "--shot-groups", "(unclosed"], "is not a regular expression"),
                           ([], "--shot-groups needs --shots")):
        argv = ["adapt", "--base", str(tiny_base), "--target", str(path), "--output-dir", str(tmp_path / "x"), *flags]
        if "--shot-groups" not in flags:
            argv += ["--shot-groups", "^(video\\d+)/"]
        assert main(argv) != 0
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_new_options_are_refused_before_writing(tiny_base, tmp_path, capsys):
    out = tmp_path / "previous"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for flags, message in ((["--prior-shots", "-1"], "prior_shots must be a finite number >= 0"),
                           (["--adv-weight", "-2"], "adv_weight must be >= 0"),
                           (["--learning-rate", "0"], "the learning rate) must be a finite number > 0, got 0.0"),
                           (["--learning-rate", "inf"], "the learning rate) must be a finite number > 0, got inf"),
                           (["--hub-dataset-id", "not a/valid//id"], "is not a Hub repo id")):
        assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--output-dir", str(out),
                     "--overwrite", *flags]) != 0
        assert message in capsys.readouterr().err
        assert os.listdir(out) == ["keep.txt"]
    with pytest.raises(SystemExit):  # argparse knows the forms
        main(["adapt", "--target", str(DEMO), "--output-dir", str(out), "--overwrite", "--tau-form", "banded"])
    assert "invalid choice: 'banded'" in capsys.readouterr().err
    with pytest.raises(FlexPoseError, match="tau form must be one of full, lowrank, diagonal"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       options=MethodOptions(tau_form="banded"))
    with pytest.raises(FlexPoseError, match="tau rank must be an integer >= 1, got 0"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       options=MethodOptions(tau_form="lowrank", tau_rank=0))
    with pytest.raises(FlexPoseError, match="tau_mapping must be true or false, got 'no'"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       options=MethodOptions(tau_mapping="no"))
    with pytest.raises(FlexPoseError, match="pose_mixup must be true or false, got 'yes'"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       config_overrides={"pose_mixup": "yes"})
    with pytest.raises(FlexPoseError, match="flip must be true or false, got 'False'"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       config_overrides={"flip": "False"})
    with pytest.raises(FlexPoseError, match="divergence must be one of mmd, energy, sinkhorn"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                       config_overrides={"divergence": "wasserstein"})
    assert os.listdir(out) == ["keep.txt"]


def test_adapter_alone_loads_its_recorded_base(tiny_base, tmp_path):
    """`--adapter` is enough: sample and grid load the base the adapter records; a wrong --base is refused."""
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    assert main(["sample", "--adapter", str(tmp_path / "a"), "--num-samples", "4", "--output",
                 str(tmp_path / "s.json")]) == 0
    assert len(load_poses(tmp_path / "s.json")) == 4
    assert main(["grid", "--adapter", str(tmp_path / "a"), "--num-samples", "2", "--output", str(tmp_path / "g.png")]) == 0
    with pytest.raises(CheckpointError, match="different base model"):
        load_generator("helen-face", str(tmp_path / "a"))  # explicit base must match the adapter's


def test_adapter_by_hub_repo_id_from_the_offline_cache(tiny_base, tmp_path, monkeypatch):
    """A Hub repo id resolves through snapshot_download from the HF cache layout, offline."""
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--someone--pose-adapter" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for item in (tmp_path / "a").iterdir():
        (snapshot / item.name).write_bytes(item.read_bytes())
    (cache / "models--someone--pose-adapter" / "refs").mkdir()
    (cache / "models--someone--pose-adapter" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    model = load_generator(None, "someone/pose-adapter")
    assert sample_poses(model, 3, seed=0).shape == (3, 16, 2)
    with pytest.raises(CheckpointError, match="not a Hub repo found in the local cache"):
        load_generator(None, "someone/absent-adapter")


def test_progress_callback_gets_every_step(tiny_base, tmp_path):
    calls = []
    run_adaptation(str(DEMO), str(tmp_path / "cb"), base=str(tiny_base), steps=3, num_samples=5,
                   progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_linear_and_sparse_leaves_unneeded_entries_of_tau_exactly_zero(tiny_base):
    """The L1 penalty is a proximal step weighted by the prior's share (10 shots against a prior worth 10:
    half): a strong weight zeroes most of tau; without it none is zero; with no prior it is off."""
    from flexpose_hf.adaptation import AdaptConfig, MethodOptions, adapt

    def zero_share(weight: float, prior_shots: float = 10.0) -> float:
        base = FlexPoseGenerator.from_pretrained(str(tiny_base))
        config = AdaptConfig(steps=15, latents=32, pool_draws=64, prior_shots=prior_shots,
                             options=MethodOptions(sparsity_weight=weight, tau_offdiagonal_weight=1.0))
        result = adapt(base, _demo_shots(), config, progress=False)
        values = torch.cat([p.detach().flatten() for p in result.adapted.trainable])
        applied = weight * prior_shots / (10 + prior_shots)
        assert result.strength.prior_share == pytest.approx(prior_shots / (10 + prior_shots))
        assert result.adapted.l1_weight == pytest.approx(applied)
        assert result.adapted.l1_proximal and result.history[-1]["reg"] == pytest.approx(
            applied * float(values.abs().sum()), rel=1e-4)
        return float((values == 0).float().mean())

    assert zero_share(0.0) == 0.0
    shares = [zero_share(w) for w in (0.1, 2.0)]
    assert 0 < shares[0] < shares[1] and shares[1] > 0.9
    assert zero_share(2.0, prior_shots=0.0) == 0.0  # the shots alone: nothing speaks for the source


def test_offdiagonal_weight_prices_channel_mixing_above_rescaling(tiny_base):
    """With the off-diagonal entries of D under c x the diagonal's L1 weight, the proximal step zeroes
    more of them as c grows while the diagonal stays free; the logged penalty is the tuner's own
    weighted deviation, and the weight reaches the adapter config and metrics."""
    from flexpose_hf.adaptation import AdaptConfig, MethodOptions, adapt

    def run(c: float):
        base = FlexPoseGenerator.from_pretrained(str(tiny_base))
        config = AdaptConfig(steps=15, latents=32, pool_draws=64, prior_shots=10.0,
                             options=MethodOptions(sparsity_weight=0.05, tau_offdiagonal_weight=c))
        result = adapt(base, _demo_shots(), config, progress=False)
        matrices = [p.detach() for p in result.adapted.trainable if p.dim() == 2]
        off = torch.cat([m[~torch.eye(len(m), dtype=torch.bool)] for m in matrices])
        diag = torch.cat([m.diagonal() for m in matrices])
        model = result.adapted.model
        assert model.peft_config["default"].offdiagonal_weight == c
        expected = result.adapted.l1_weight / 0.05 * float(model.tau_regularization().detach())
        assert result.history[-1]["reg"] == pytest.approx(expected, rel=1e-4)
        return float((off == 0).float().mean()), float((diag == 0).float().mean())

    off1, _ = run(1.0)
    off8, diag8 = run(8.0)
    assert off8 > off1 + 0.1 and off8 > diag8 + 0.1


def test_offdiagonal_weight_is_refused_when_invalid_before_anything_runs(tiny_base, tmp_path):
    from flexpose_hf.adaptation import AdaptConfig, MethodOptions
    from flexpose_hf.tuners.tau import TauConfig

    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(FlexPoseError, match="off-diagonal weight must be a finite number >= 0"):
            AdaptConfig(options=MethodOptions(tau_offdiagonal_weight=bad)).check()
        with pytest.raises(ValueError, match="offdiagonal_weight"):
            TauConfig(offdiagonal_weight=bad)
    out = tmp_path / "never"
    assert main(["adapt", "--target", str(DEMO), "--base", str(tiny_base), "--output-dir", str(out),
                 "--tau-offdiagonal-weight", "-2"]) != 0
    assert not out.exists()


def test_where_selects_one_action_of_penn_action_labels(tiny_base, tmp_path, capsys):
    import scipy.io

    from flexpose_hf.io import pose_arrays

    demo = pose_arrays(load_poses(DEMO, skeleton="penn13"))[0]
    coco = pose_arrays(load_poses(DEMO))[0]
    demo[:, 0] = coco[:, 0]  # Penn's head centre: COCO's nose stands in
    labels = tmp_path / "labels"
    labels.mkdir()
    for video, (rows, action) in enumerate([(range(4), "squats"), (range(4, 7), "squats"), (range(7, 10), "golf")]):
        kp = demo[list(rows)]
        scipy.io.savemat(labels / f"{video + 1:04d}.mat", {"action": action, "x": kp[..., 0], "y": kp[..., 1],
                                                             "visibility": np.ones(kp.shape[:2], np.uint8)})
    out = tmp_path / "o"
    assert main(["adapt", "--base", str(tiny_base), "--target", str(labels), "--where", "action=squats",
                 "--shots", "2", "--shot-groups", r"^(\d+)/", "--steps", "2", "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["where"] == {"columns": {"action": "squats"}, "poses": 7, "of": 10}
    assert metrics["shot_groups"] == {"pattern": r"^(\d+)/", "groups": 2, "left_out": 5}
    assert "--where 'action=squats'" in (out / "README.md").read_text()
    shots = json.loads((out / "shots.json").read_text())
    assert len(shots["annotations"]) == 2 and {im["file_name"][:4] for im in shots["images"]} == {"0001", "0002"}
    for flags, references in (([], 10), (["--where", "action=squats"], 7)):  # evaluate against one action too
        assert main(["evaluate", "--samples", str(out / "samples.json"), "--reference", str(labels), *flags,
                     "--output", str(tmp_path / "ev.json")]) == 0
        assert json.loads((tmp_path / "ev.json").read_text())["num_reference"] == references
    for flags, message in ((["--where", "action=golf_swing"], "no pose of"),
                           (["--where", "sport=squats"], "has no text column 'sport'"),
                           (["--where", "squats"], "--where expects COLUMN=VALUE")):
        argv = ["adapt", "--base", str(tiny_base), "--target", str(labels), "--output-dir", str(tmp_path / "x"), *flags]
        assert main(argv) != 0
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_penn_action_shots_come_from_different_videos_by_default(tiny_base, tmp_path, caplog):
    import scipy.io

    from flexpose_hf.adaptation.run import select_shots
    from flexpose_hf.io import SHOT_GROUPS, pose_arrays

    poses = pose_arrays(load_poses(DEMO, skeleton="penn13"))[0]
    poses[:, 0] = pose_arrays(load_poses(DEMO))[0][:, 0]  # Penn's head centre: COCO's nose stands in
    labels = tmp_path / "labels"
    labels.mkdir()
    for video, rows in enumerate([range(4), range(4, 7), range(7, 10)]):  # 3 videos of 4, 3 and 3 frames
        kp = poses[list(rows)]
        scipy.io.savemat(labels / f"{video + 1:04d}.mat", {"action": "squats", "x": kp[..., 0], "y": kp[..., 1],
                                                             "visibility": np.ones(kp.shape[:2], np.uint8)})
    for seed in range(4):
        picked = select_shots(str(labels), "mpii16", None, 2, seed)
        video = [image.split("/")[0] for image in picked.dataset["image"]]
        shot_videos = {video[int(r)] for r in picked.rows}
        assert len(shot_videos) == 2  # and every frame of their videos is left out of the held-out poses:
        assert len(picked.held_out) == sum(v not in shot_videos for v in video)
        assert picked.grouping["pattern"] == SHOT_GROUPS["penn_action"] and picked.grouping["groups"] == 3
    # More shots than videos: a warning, and the shots are drawn from every frame; "none" turns grouping off.
    with caplog.at_level("WARNING"):
        picked = select_shots(str(labels), "mpii16", None, 4, 0)
    assert picked.grouping is None and len(picked.held_out) == 6 and "only 3 groups" in caplog.text
    out = tmp_path / "o"
    metrics = run_adaptation(str(labels), str(out), base=str(tiny_base), shots=2, steps=2, progress=False)
    assert metrics["shot_groups"]["pattern"] == SHOT_GROUPS["penn_action"]
    assert f"--shot-groups '{SHOT_GROUPS['penn_action']}'" in (out / "README.md").read_text()  # the card's command
    picked = select_shots(str(labels), "mpii16", None, 2, 0, shot_groups="none")
    assert picked.grouping is None and len(picked.held_out) == 8
    with pytest.raises(FlexPoseError, match="only 3 groups"):  # asked for explicitly, it stays an error
        select_shots(str(labels), "mpii16", None, 4, 0, shot_groups=SHOT_GROUPS["penn_action"])
