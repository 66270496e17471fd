"""The example case files shipped with ecmx (``ecmx cases [DIR]`` copies them out).

The wheel holds ``cases/`` as the package data ``ecmx.cases``; a source checkout (without an
installation, or an editable one, whose import finder does not resolve the data-only
``ecmx.cases`` below the regular ``ecmx`` package) reads the repository's ``cases/`` directory.
Copying never overwrites a file: one that exists already is left as it is and reported.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

REPOSITORY_CASES = Path(__file__).resolve().parents[2] / "cases"
"""``cases/`` of a source checkout (used when ``ecmx.cases`` is not importable)."""


def shipped_cases() -> list[Traversable]:
    """The shipped example files (``*.yaml``, ``*.csv``), sorted by name."""
    try:
        root: Traversable = resources.files("ecmx.cases")
    except ModuleNotFoundError:
        root = REPOSITORY_CASES
    return sorted((f for f in root.iterdir() if f.is_file() and f.name.endswith((".yaml", ".csv"))), key=lambda f: f.name)


def copy_cases(directory: str | Path) -> tuple[list[Path], list[Path]]:
    """Copy the examples into ``directory`` (created if missing); return (copied, left as they were).

    Each file is created exclusively (``open(..., "xb")``), so an existing file, or a link in its
    place, is never overwritten or followed. New files get the user's umask.
    """
    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for source in shipped_cases():
        target = directory / source.name
        try:
            with open(target, "xb") as out:
                out.write(source.read_bytes())
        except FileExistsError:
            kept.append(target)
            continue
        copied.append(target)
    return copied, kept
