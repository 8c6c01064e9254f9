"""Runs the ffmpeg command-line tool for the generators."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                   check=True, timeout=120)


def ffmpeg_bytes(scratch: Path, name: str, *args: str) -> bytes:
    """Runs ffmpeg with `args` writing scratch/name, returns the file's bytes and removes it."""
    path = scratch / name
    ffmpeg(*args, str(path))
    try:
        return path.read_bytes()
    finally:
        path.unlink()
