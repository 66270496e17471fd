"""The output directory of a sweep or comparison: ownership, lock, derived directories, atomic outputs.

A sweep or comparison writes only into a directory that ecmx owns (the ``.ecmx-owner`` marker of
:mod:`ecmx.solver.studies.outdir`): one it creates now, an empty one it adopts, or one that an earlier sweep
or comparison created. Anything else (a directory holding a user's files, a file, a symbolic link)
is refused before anything is written. The study holds the directory's exclusive lock for its whole
duration, so a second sweep or comparison on the same directory refuses, naming the holder.

Every directory derived from input (``<comparison dir>/<case name>``, ``<sweep dir>/<point label>``)
is checked to lie directly inside the study directory (:func:`child_directory`).

Inside its directory a study replaces only what it writes itself. Each file is written to a
temporary file next to it and renamed into place (:func:`ecmx.solver.files.atomic_write_text`), so
a reader sees the old or the new file, never a half-written one. Outputs that come in sets (``figures/``, tables and
reports) are written into a hidden staging directory first and then moved into place one by one
(:func:`staged_outputs`, :func:`publish`): a failure while drawing leaves the previous outputs
untouched. Files get the permissions of the user's umask (``0o666 & ~umask``), not ``0o600``.

Nothing here is collective: under MPI call it on rank 0 (:func:`ecmx.solver.collective.on_root`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

from ecmx.solver.errors import CaseError
from ecmx.solver.studies.outdir import DirectoryLock, replace_directory

STAGING_PREFIX = ".ecmx-staging-"
"""Name prefix of the hidden directories that outputs are drawn into before they are published."""


def open_study_directory(path: Path, kind: str, *, file: Path | None) -> DirectoryLock:
    """Create (or adopt, when empty) the study directory ``path``, mark it as ecmx's and lock it.

    An existing ecmx directory is locked as it is. Staging directories left by a killed study are
    removed (nobody else can be using them: we hold the lock).

    Args:
        path: the study directory (absolute).
        kind: ``"sweep"`` or ``"comparison"``, recorded in the marker for a refused second process.
        file: the sweep or comparison file that named the directory (for messages).

    Raises:
        CaseError: ``path`` holds files ecmx did not write, is a file or a link, or cannot be made;
            DirectoryInUse when another ecmx process holds it.
    """
    lock = DirectoryLock.create(path, kind, key="output.directory", file=file, exist_ok_if_empty=True)
    for stale in path.glob(f"{STAGING_PREFIX}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    return lock


def child_directory(parent: Path, name: str, *, file: Path | None, key: str, reserved: Collection[str] = ()) -> Path:
    """``parent / name``, after checking that it lies directly inside ``parent``.

    ``name`` comes from an input file (a case name, a point label). An absolute path, ``..``, a
    separator or an existing symbolic link that leads elsewhere would make ecmx write (and with
    ``--overwrite`` delete) outside the study directory; ``reserved`` are the study's own outputs.

    Raises:
        CaseError: naming ``file`` and ``key``, when the name is not a plain name inside ``parent``.
    """
    child = parent / name
    inside = child.name == name and child.resolve().parent == parent.resolve()
    if not inside or name in reserved:
        taken = f"; it must not be one of {', '.join(sorted(reserved))}" if reserved else ""
        raise CaseError(
            f"{name!r} does not name a directory inside {parent}: expected a plain name (no '/', no '..', "
            f"not a symbolic link leading elsewhere){taken}",
            file=file,
            key=key,
        )
    return child


def check_outputs(directory: Path, files: Collection[str], directories: Collection[str], *, file: Path | None) -> None:
    """Refuse (CaseError) when an output that the study will replace is not what ecmx writes there:
    a symbolic link, a directory where a file goes, or a file where a directory goes."""
    for name in (*files, *directories):
        target = directory / name
        if not (target.exists() or target.is_symlink()):
            continue
        wrong = target.is_symlink() or (target.is_dir() != (name in directories))
        if wrong:
            expected = "a directory" if name in directories else "a file"
            raise CaseError(
                f"{target} is not an output ecmx wrote (expected {expected}, not a symbolic link); "
                "move it away or choose another output directory",
                file=file,
                key="output.directory",
            )


@contextlib.contextmanager
def staged_outputs(directory: Path) -> Iterator[Path]:
    """A new hidden directory inside ``directory`` to draw outputs into; removed when the block ends.

    Publish what was drawn with :func:`publish` before the block ends.
    """
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, directory: Path) -> dict[str, Path]:
    """Move each entry of ``staging`` into ``directory``, replacing ecmx's previous output of that name.

    A file is renamed over the old one (atomic); a directory replaces the old one whole
    (:func:`ecmx.solver.studies.outdir.replace_directory`). Check the targets with :func:`check_outputs`
    first. Returns ``{name: published path}``.
    """
    published = {}
    for entry in sorted(staging.iterdir()):
        target = directory / entry.name
        if entry.is_dir():
            replace_directory(entry, target)
        else:
            os.replace(entry, target)
        published[entry.name] = target
    return published
