"""Dependencies point one way: core -> models -> tuners -> hub/loading -> adaptation -> cli/demo/examples."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "flexpose_hf"
LOWER = ["models", "tuners", "io", "loading.py", "hub.py", "poses.py", "codec.py", "skeletons.py", "metrics.py",
         "drawing.py", "export_openpose.py", "utils.py", "errors.py"]
UPPER = {"adaptation", "cli", "demo", "pipelines", "training", "completion"}


def imported_modules(file: Path) -> set[str]:
    """The flexpose_hf subpackages a file imports (relative imports resolved to their first part)."""
    names = set()
    depth_of_file = len(file.relative_to(PACKAGE).parts) - 1
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = list(file.relative_to(PACKAGE).parts[:depth_of_file - node.level + 1])
                target = [*parts, *(node.module.split(".") if node.module else [])]
                names.update({target[0]} if target else {a.name for a in node.names})
            elif node.module and node.module.startswith("flexpose_hf."):
                names.add(node.module.split(".")[1])
    return names


@pytest.mark.parametrize("lower", LOWER)
def test_lower_layers_do_not_import_upper_ones(lower):
    files = [PACKAGE / lower] if lower.endswith(".py") else sorted((PACKAGE / lower).rglob("*.py"))
    for file in files:
        upward = imported_modules(file) & UPPER
        assert not upward, f"{file.relative_to(PACKAGE)} imports {sorted(upward)}"
