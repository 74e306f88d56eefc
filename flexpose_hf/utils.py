"""Small helpers shared by several modules: atomic writes, checked reads of JSON and safetensors."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import CheckpointError


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (mkstemp always uses 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` when the block ends cleanly
    (with the mode a plain ``open()`` would give), removed when it raises."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, f"cannot write there ({exc.strerror})", str(path)) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_safetensors(weights: dict | Any, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a tensor dict, or a module's state (shared tensors handled), as safetensors, atomically and
    with the umask's mode (safetensors itself creates files 0600)."""
    import safetensors.torch

    with atomic_path(path) as tmp:
        if isinstance(weights, dict):
            safetensors.torch.save_file(weights, tmp, metadata=metadata)
        else:
            safetensors.torch.save_model(weights, tmp, metadata=metadata)


def follow_umask(folder: str | Path) -> None:
    """Give the files directly in ``folder`` the mode a plain ``open()`` would (for files other
    libraries wrote 0600, e.g. peft's adapter weights)."""
    for item in Path(folder).iterdir():
        if item.is_file() and not item.is_symlink():
            os.chmod(item, new_file_mode())


def read_json(file: str | Path) -> Any:
    """A JSON file's content; malformed JSON is a ``CheckpointError`` naming the file and position."""
    try:
        return json.loads(Path(file).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def read_safetensors(file: str | Path) -> dict:
    """A safetensors file's tensors; a missing, truncated or corrupt file is a ``CheckpointError``."""
    import safetensors
    import safetensors.torch

    if not Path(file).is_file():
        raise CheckpointError(f"{file}: missing")
    try:
        return safetensors.torch.load_file(str(file))
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: unreadable or truncated safetensors file ({exc})") from None
