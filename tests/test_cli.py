import json
import subprocess
import sys

import pytest

from flexpose_hf.cli import main


def test_help_runs_as_console_script():
    out = subprocess.run([sys.executable, "-m", "flexpose_hf.cli", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "render" in out.stdout


def test_render_bundled_demo(tmp_path, capsys):
    assert main(["render", "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "render.json").read_text())
    assert summary["poses"] == 10 and summary["skeleton"] == "coco17"
    assert summary["roundtrip_error_px_max"] < 0.5
    assert (tmp_path / "roundtrip.png").stat().st_size > 0


def test_render_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    assert main(["render", "--input", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: malformed JSON at line 1" in err and "Traceback" not in err


def test_sample_refusals_name_the_problem(tmp_path, capsys):
    assert main(["sample", "--num-samples", "10000000000000", "--output", str(tmp_path / "x.npz")]) == 2
    assert "needs about" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "x.json"
    assert main(["sample", "--num-samples", "3", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and ".tmp" not in err


def test_version_and_help_on_every_flag(capsys):
    import argparse

    from flexpose_hf.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("flexpose ")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"flexpose {name} {action.option_strings[0]} has no help"
    adapt_help = subparsers.choices["adapt"].format_help()
    assert "(default: 200)" in adapt_help.replace("\n", " ").replace("  ", " ")  # --num-samples shows its default
