"""Every Python block in README.md runs as written (from a folder laid out like the repository root,
after the quick start's `flexpose adapt ... --output-dir outputs/demo`)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flexpose_hf.adaptation.run import run_adaptation

REPO = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)


def test_readme_has_python_blocks():
    assert python_blocks(), "README.md lost its Python examples"


def tiny_stable_diffusion(folder: Path) -> Path:
    """An SD 1.5 base and OpenPose ControlNet with tiny random weights in ``folder``; the base's path."""
    from tiny_sd import save_tiny_sd15, tiny_controlnet_pipeline

    return save_tiny_sd15(tiny_controlnet_pipeline(folder / "tokenizer"), folder)[0]


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index, tmp_path):
    (tmp_path / "flexpose_hf").mkdir()
    (tmp_path / "flexpose_hf" / "data").symlink_to(REPO / "flexpose_hf" / "data")
    run_adaptation(str(REPO / "flexpose_hf" / "data" / "coco_demo_10.json"), str(tmp_path / "outputs" / "demo"),
                   steps=2, num_samples=10, progress=False)
    block = python_blocks()[index]
    if "stable-diffusion-v1-5/stable-diffusion-v1-5" in block:  # the Hub weights are out of reach: tiny local ones
        block = block.replace('"stable-diffusion-v1-5/stable-diffusion-v1-5"', repr(str(tiny_stable_diffusion(tmp_path))))
        block = block.replace('"lllyasviel/control_v11p_sd15_openpose"', repr(str(tmp_path / "sd15-openpose")))
        block = block.replace("manual_seed(0))", "manual_seed(0), height=32, width=32, num_inference_steps=2)")
        assert "num_inference_steps=2" in block, "the README's ControlNet call changed: update this test's rewrite"
    script = tmp_path / "script" / "block.py"  # outside the working folder, whose flexpose_hf/ would shadow the package
    script.parent.mkdir()
    script.write_text(block)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
