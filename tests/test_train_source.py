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

from flexpose_hf import FlexPoseGenerator

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "flexpose_hf" / "data" / "coco_demo_10.json"
TINY = ["--channels", "8,8,8", "--z_dim", "8", "--w_dim", "16", "--mapping_layers", "2", "--batch_size", "16",
        "--held_out", "12", "--eval_samples", "50", "--report_to", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _data(tmp_path):
    """60 poses: the 10 bundled demo poses and jittered copies, as a flexpose .npz."""
    from flexpose_hf import load_poses, pose_arrays
    from flexpose_hf.io import write_npz

    kp, _ = pose_arrays(load_poses(DEMO))
    rng = np.random.default_rng(0)
    poses = np.concatenate([kp] + [kp + rng.normal(0, 3, kp.shape) for _ in range(5)])
    path = tmp_path / "train.npz"
    write_npz(path, poses.astype(np.float32), "coco17")
    return path


def _cmd(out, steps, extra=()):
    data = _data(out.parent) if not (out.parent / "train.npz").exists() else out.parent / "train.npz"
    return [sys.executable, str(REPO / "examples" / "train_source.py"), "--data", str(data), "--output_dir", str(out),
            "--max_steps", str(steps), "--checkpointing_steps", "4", "--eval_steps", str(steps), *TINY, *extra]


def test_train_source_end_to_end_and_resume_after_kill(tmp_path):
    full = tmp_path / "full"
    subprocess.run(_cmd(full, 40), check=True, capture_output=True, env=ENV, timeout=600)
    generator = FlexPoseGenerator.from_pretrained(full)
    assert generator.config.skeleton == "coco17"
    assert generator.sample(4, seed=0)["keypoints"].shape == (4, 17, 2)
    summary = json.loads((full / "training_summary.json").read_text())
    assert summary["steps"] == 40 and "nn1" in summary["final_metrics"]
    assert (full / "discriminator" / "model.safetensors").exists()
    assert "library_name: flexpose_hf" in (full / "README.md").read_text()
    assert list((full / "samples").glob("*.png"))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed, 40), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    while not (killed / "checkpoints" / "checkpoint-8").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.safetensors").exists()
    subprocess.run(_cmd(killed, 40, ["--resume_from_checkpoint", "latest"]), check=True, capture_output=True,
                   env=ENV, timeout=600)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(killed / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)


def test_resume_with_another_architecture_or_skeleton_is_refused_before_any_step(tmp_path):
    out = tmp_path / "run"
    subprocess.run(_cmd(out, 4), check=True, capture_output=True, env=ENV, timeout=600)
    assert json.loads((out / "checkpoints" / "checkpoint-4" / "run_config.json").read_text())["w_dim"] == 16
    cmd = _cmd(out, 8, ["--resume_from_checkpoint", "latest", "--w_dim", "8"])  # the last --w_dim wins
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "w_dim: checkpoint 16, this run 8" in proc.stderr

    from flexpose_hf.io import write_npz

    mpii = tmp_path / "mpii.npz"
    write_npz(mpii, np.random.default_rng(0).uniform(50, 150, (60, 16, 2)).astype(np.float32), "mpii16")
    cmd = _cmd(out, 8, ["--resume_from_checkpoint", "latest"])
    cmd[cmd.index("--data") + 1] = str(mpii)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "skeleton: checkpoint 'coco17', this run 'mpii16'" in proc.stderr
    assert not (out / "checkpoints" / "checkpoint-8").exists()  # no step ran


def test_init_from_a_trained_generator_warms_the_encoder_first_and_refuses_another_architecture(tmp_path):
    """--init_from copies the trained generator and its critic; during the encoder warm-up the
    generator does not move (so the saved EMA equals the start); another architecture is refused
    by name before any step."""
    first = tmp_path / "first"
    subprocess.run(_cmd(first, 4), check=True, capture_output=True, env=ENV, timeout=600)
    warm = tmp_path / "warm"
    subprocess.run(_cmd(warm, 6, ["--init_from", str(first), "--encoder_warmup_steps", "6"]), check=True,
                   capture_output=True, env=ENV, timeout=600)
    a, b = load_file(str(first / "model.safetensors")), load_file(str(warm / "model.safetensors"))
    assert "w_avg" in a
    for key in a:  # w_avg is a running estimate over fresh latents: it moves without any update
        if key != "w_avg":
            torch.testing.assert_close(a[key], b[key], msg=key)
    critic_a = load_file(str(first / "discriminator" / "model.safetensors"))
    critic_b = load_file(str(warm / "discriminator" / "model.safetensors"))
    assert any(not torch.equal(critic_a[k], critic_b[k]) for k in critic_a)  # the critic trained on

    moved = tmp_path / "moved"
    subprocess.run(_cmd(moved, 6, ["--init_from", str(first), "--encoder_warmup_steps", "2"]), check=True,
                   capture_output=True, env=ENV, timeout=600)
    c = load_file(str(moved / "model.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a if k != "w_avg")

    other = tmp_path / "other"
    proc = subprocess.run(_cmd(other, 4, ["--init_from", str(first), "--w_dim", "8"]), check=False,
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"w_dim: {first} 16, this run 8" in proc.stderr
    assert not (other / "checkpoints").exists()


def test_max_train_minutes_stops_early_with_a_complete_run(tmp_path):
    """A time budget ends training early yet writes the model, card, summary (with the steps really
    taken) and a checkpoint to resume from."""
    out = tmp_path / "timed"
    subprocess.run(_cmd(out, 100000, ["--max_train_minutes", "0.02"]), check=True, capture_output=True, env=ENV,
                   timeout=600)
    steps = json.loads((out / "training_summary.json").read_text())["steps"]
    assert 1 <= steps < 100000
    assert (out / "checkpoints" / f"checkpoint-{steps}").is_dir()
    assert FlexPoseGenerator.from_pretrained(out).sample(2, seed=0)["keypoints"].shape == (2, 17, 2)


def test_train_source_two_processes_stay_in_sync(tmp_path):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           *_cmd(tmp_path / "mp", 3)[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The two ranks print concurrently, so their lines may interleave: match the pairs anywhere.
    sums = dict(re.findall(r"(\[rank \d/2\]) trained parameter checksum ([-+0-9.eE]+\d)", proc.stdout))
    assert set(sums) == {"[rank 0/2]", "[rank 1/2]"}
    assert sums["[rank 0/2]"] == sums["[rank 1/2]"]
    assert np.isfinite(float(sums["[rank 0/2]"]))
    assert (tmp_path / "mp" / "model.safetensors").exists()


def _moved_weights(before: dict, folder: Path) -> set[str]:
    """Names of the weights (w_avg aside) that differ between ``before`` and ``folder``'s generator."""
    after = load_file(str(folder / "model.safetensors"))
    return {k for k in before if k != "w_avg" and not torch.equal(before[k], after[k])}


def _refit_with_modules(script: list[str], out: Path, modules: str, before: dict) -> tuple[set[str], str]:
    """Run the refit ``script`` for 2 steps with ``--modules``; the weights it moved and its summary's ``refit``."""
    cmd = [*script, "--modules", modules, "--steps", "2"]
    cmd[cmd.index("--output_dir") + 1] = str(out)
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV, timeout=600)
    return _moved_weights(before, out), json.loads((out / "training_summary.json").read_text())["refit"]


def _assert_modules_refused(script: list[str], out: Path, modules: str) -> None:
    """``--modules`` is refused with a message naming it, no traceback, and nothing written."""
    cmd = [*script, "--modules", modules]
    cmd[cmd.index("--output_dir") + 1] = str(out)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and f"--modules '{modules}'" in proc.stderr
    assert not out.exists()


def test_refit_mapping_moves_only_f_keeps_the_split_and_bundles_after_its_base(tmp_path):
    """examples/refit_mapping.py trains the mapping network alone (phi, A and the critic stay as they
    were; ``--modules f,A`` adds the style layers), writes a complete generator folder whose summary
    starts from the base, and refuses data of another skeleton before any step."""
    base = tmp_path / "base"
    subprocess.run(_cmd(base, 4), check=True, capture_output=True, env=ENV, timeout=600)
    data = tmp_path / "train.npz"
    out = tmp_path / "refit"
    script = [sys.executable, str(REPO / "examples" / "refit_mapping.py"), "--base", str(base), "--data", str(data),
              "--output_dir", str(out), "--steps", "5", "--batch_size", "16", "--real_batch_size", "32",
              "--eval_samples", "50"]
    proc = subprocess.run(script, check=True, capture_output=True, text=True, env=ENV, timeout=600)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"before", "after"} and 0.5 <= result["after"]["nn1"] <= 1
    a, b = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    moved = _moved_weights(a, out)
    assert moved and all(k.startswith("f.") for k in moved)
    assert not torch.equal(a["w_avg"], b["w_avg"])  # re-estimated for the new f
    critic_a = load_file(str(base / "discriminator" / "model.safetensors"))
    critic_b = load_file(str(out / "discriminator" / "model.safetensors"))
    assert all(torch.equal(critic_a[k], critic_b[k]) for k in critic_a)
    summary = json.loads((out / "training_summary.json").read_text())
    base_summary = json.loads((base / "training_summary.json").read_text())
    assert summary["init_from"] == str(base) and summary["held_out_poses"] == base_summary["held_out_poses"] == 12
    card = (out / "README.md").read_text()
    assert "library_name: flexpose_hf" in card and "refit" in card and ".partial" not in card
    assert not (tmp_path / "refit.partial").exists()

    sys.path.insert(0, str(REPO / "scripts"))
    from bundle_checkpoint import merge_stages

    assert merge_stages(base_summary, summary)["steps"] == 4 + 5

    # --modules f,A trains the style layers too, and nothing else; an unknown module is refused first.
    moved, refit = _refit_with_modules(script, tmp_path / "refit_fa", "f,A", a)
    assert any(k.startswith("A.") for k in moved) and all(k.startswith(("f.", "A.")) for k in moved)
    assert "style layers" in refit
    _assert_modules_refused(script, tmp_path / "refit_bad", "f,phi")

    from flexpose_hf.io import write_npz

    mpii = tmp_path / "mpii.npz"
    write_npz(mpii, np.random.default_rng(0).uniform(50, 150, (60, 16, 2)).astype(np.float32), "mpii16")
    script[script.index("--data") + 1] = str(mpii)
    script[script.index("--output_dir") + 1] = str(tmp_path / "other")
    proc = subprocess.run(script, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "skeleton 'mpii16'" in proc.stderr and not (tmp_path / "other").exists()


def test_fit_latent_bank_replaces_only_f_by_inverted_training_poses(tmp_path):
    """examples/fit_latent_bank.py inverts the training split (and its mirror images) into a bank, picks
    a bandwidth on the held-out split by its rule, changes nothing but f and w_avg, and refuses bad
    bandwidths before anything is written."""
    base = tmp_path / "base"
    subprocess.run(_cmd(base, 4), check=True, capture_output=True, env=ENV, timeout=600)
    out = tmp_path / "bank"
    script = [sys.executable, str(REPO / "examples" / "fit_latent_bank.py"), "--base", str(base),
              "--data", str(tmp_path / "train.npz"), "--output_dir", str(out), "--steps", "30",
              "--bandwidths", "0,0.2", "--eval_samples", "60"]
    proc = subprocess.run(script, check=True, capture_output=True, text=True, env=ENV, timeout=600)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "training_summary.json").read_text())
    bank = summary["latent_bank"]
    assert result["bandwidth"] == bank["bandwidth"] in (0.0, 0.2)
    mlp, chosen = bank["mlp_mapping"], bank["bandwidths"][str(bank["bandwidth"])]
    assert chosen["nn1"] <= mlp["nn1"] and chosen["precision"] >= mlp["precision"]  # the rule
    generator = FlexPoseGenerator.from_pretrained(out)
    assert generator.config.mapping == "bank" and generator.config.bank_size == 2 * (60 - 12) == bank["bank_size"]
    a, b = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("f.") and k != "w_avg")
    assert {k for k in b if k.startswith("f.")} == {"f.codes", "f.noise"}
    assert "latent bank" in (out / "README.md").read_text()

    again = [*script]
    again[again.index("--base") + 1], again[again.index("--output_dir") + 1] = str(out), str(tmp_path / "again")
    proc = subprocess.run(again, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "needs an MLP mapping" in proc.stderr
    assert not (tmp_path / "again").exists()

    bad = [*script, "--bandwidths", "0,-1"]
    bad[bad.index("--output_dir") + 1] = str(tmp_path / "bad")
    proc = subprocess.run(bad, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "--bandwidths '0,-1'" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_resume_check_reads_fields_a_later_release_added_as_their_defaults(tmp_path):
    """A checkpoint whose run config predates a config field (``mapping``, ``bank_size``) still resumes
    when the run uses that field's default; any other value is refused, naming the field."""
    import pytest

    from flexpose_hf import FlexPoseGeneratorConfig
    from flexpose_hf.errors import FlexPoseError
    from flexpose_hf.training.checkpointing import RUN_CONFIG, check_resume_config

    config = FlexPoseGeneratorConfig().to_dict()
    older = {k: v for k, v in config.items() if k not in ("mapping", "bank_size")}
    (tmp_path / RUN_CONFIG).write_text(json.dumps(older))
    check_resume_config(tmp_path, config, defaults=FlexPoseGeneratorConfig().to_dict())
    with pytest.raises(FlexPoseError, match="mapping: checkpoint 'mlp', this run 'bank'"):
        check_resume_config(tmp_path, {**config, "mapping": "bank"}, defaults=FlexPoseGeneratorConfig().to_dict())
    with pytest.raises(FlexPoseError, match="mapping: checkpoint None"):  # without defaults: a difference
        check_resume_config(tmp_path, config)
    # an adaptation's run config nests the base generator's config: defaults fill in there too
    (tmp_path / RUN_CONFIG).write_text(json.dumps({"steps_done": 3, "base": older}))
    check_resume_config(tmp_path, {"steps_done": 3, "base": config}, defaults={"base": config})
    with pytest.raises(FlexPoseError, match="base: checkpoint"):
        check_resume_config(tmp_path, {"steps_done": 3, "base": {**config, "bank_size": 7}}, defaults={"base": config})


def test_refit_mapping_autoencoder_reconstructs_the_training_poses_and_moves_only_what_it_trains(tmp_path):
    """``--objective autoencoder`` inverts the training poses, trains f with an encoder so that the
    poses come back through it (the reconstruction falls), changes nothing but f and w_avg (and phi when
    asked), and refuses modules without f before anything is written."""
    base = tmp_path / "base"
    subprocess.run(_cmd(base, 4), check=True, capture_output=True, env=ENV, timeout=600)
    out = tmp_path / "autoencoded"
    script = [sys.executable, str(REPO / "examples" / "refit_mapping.py"), "--base", str(base),
              "--data", str(tmp_path / "train.npz"), "--output_dir", str(out), "--objective", "autoencoder",
              "--steps", "60", "--inversion_steps", "10", "--batch_size", "16", "--real_batch_size", "32",
              "--learning_rate", "1e-2", "--eval_samples", "50"]
    subprocess.run(script, check=True, capture_output=True, text=True, env=ENV, timeout=600)
    summary = json.loads((out / "training_summary.json").read_text())
    first, last = summary["autoencoder_losses_first_last_tenth"]["reconstruction"]
    assert last < 0.8 * first, (first, last)
    assert "autoencoder" in summary["refit"] and summary["reconstruction_weight"] == 3.0
    a, b = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    moved = _moved_weights(a, out)
    assert moved and all(k.startswith("f.") for k in moved) and set(a) == set(b)  # the encoder is not saved
    assert FlexPoseGenerator.from_pretrained(out).config.mapping == "mlp"

    # --modules f,phi trains the synthesis network with f, and nothing else
    moved, refit = _refit_with_modules(script, tmp_path / "with_phi", "f,phi", a)
    assert any(k.startswith("phi.") for k in moved) and all(k.startswith(("f.", "phi.")) for k in moved)
    assert "f+phi" in refit
    for modules in ("phi", "f,g"):  # f is what the objective refits; unknown modules are refused
        _assert_modules_refused(script, tmp_path / "bad", modules)


def test_autoencoded_refit_refuses_a_bank_mapping_and_bad_settings_before_inverting():
    from flexpose_hf.models.generator import FlexPoseGeneratorConfig
    from flexpose_hf.training.autoencoded_refit import refit_mapping_autoencoded

    poses = np.random.default_rng(0).uniform(-0.4, 0.4, (8, 14, 2)).astype(np.float32)
    bank = FlexPoseGenerator(FlexPoseGeneratorConfig(skeleton="lsp14", channels=[8, 8, 8], z_dim=8, w_dim=16,
                                                     mapping="bank", bank_size=4))
    with pytest.raises(ValueError, match="needs an MLP mapping, it has a 'bank' one"):
        refit_mapping_autoencoded(bank, poses, steps=1, progress=False)
    mlp = FlexPoseGenerator(FlexPoseGeneratorConfig(skeleton="lsp14", channels=[8, 8, 8], z_dim=8, w_dim=16))
    with pytest.raises(ValueError, match="reconstruction_weight >= 0"):
        refit_mapping_autoencoded(mlp, poses, steps=1, reconstruction_weight=-1, progress=False)


def test_fit_shape_model_adds_a_projection_and_changes_no_weight(tmp_path):
    """examples/fit_shape_model.py gives the base a point distribution model of its training split (and
    mirror images), leaves every weight as it was, records the fit, and refuses a bad --variance before
    anything is written; train_source --init_from such a generator trains on without it."""
    base = tmp_path / "base"
    subprocess.run(_cmd(base, 4), check=True, capture_output=True, env=ENV, timeout=600)
    out = tmp_path / "shaped"
    script = [sys.executable, str(REPO / "examples" / "fit_shape_model.py"), "--base", str(base),
              "--data", str(tmp_path / "train.npz"), "--output_dir", str(out), "--variance", "0.9", "--eval_samples", "60"]
    proc = subprocess.run(script, check=True, capture_output=True, text=True, env=ENV, timeout=600)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "training_summary.json").read_text())
    assert result["components"] == summary["shape_model"]["components"] < 2 * 17
    assert summary["shape_model"]["poses"] == 2 * (60 - 12) and summary["shape_model"]["variance_kept"] >= 0.9
    generator = FlexPoseGenerator.from_pretrained(out)
    assert generator.config.shape_components == result["components"]
    a, b = load_file(str(base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(b) - set(a) == {"shape_model.mean", "shape_model.basis"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "point distribution model" in (out / "README.md").read_text()

    # training on from it starts from its weights and leaves the shape model out, saying so
    warm = tmp_path / "warm"
    proc = subprocess.run(_cmd(warm, 2, ["--init_from", str(out), "--encoder_warmup_steps", "2"]), check=True,
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert "point distribution model is left out" in proc.stderr
    assert FlexPoseGenerator.from_pretrained(warm).config.shape_components == 0

    bad = [*script[:-4], "--variance", "1.5"]
    bad[bad.index("--output_dir") + 1] = str(tmp_path / "bad")
    proc = subprocess.run(bad, check=False, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "--variance must be in (0, 1)" in proc.stderr
    assert not (tmp_path / "bad").exists()
