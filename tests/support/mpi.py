"""The one place the tests look up ``mpiexec``: beside the test interpreter (the virtualenv's), else
on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def find_mpiexec() -> str | None:
    """The path of ``mpiexec`` (the virtualenv's first), or None when there is none."""
    return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def mpiexec() -> str:
    """The path of ``mpiexec``; skips the calling test when there is none."""
    found = find_mpiexec()
    if found is None:
        pytest.skip("mpiexec not found")
    return found
