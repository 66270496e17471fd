"""Output directories that ecmx owns: an ownership marker, an exclusive lock, and safe replacement.

ecmx only ever deletes or replaces a directory that it recognises as its own results: one holding
the marker file ``.ecmx-owner`` (written when ecmx creates the directory). It never deletes the
file-system root, the home directory, the working directory or any of its parents, or the
directory that holds the case file, whatever the command line says.

The marker is also the lock: a run, sweep or comparison holds an exclusive ``flock`` on it for as
long as it writes into the directory. The operating system releases the lock when the process
ends, however it ends (``kill -9`` included), so a stale lock never blocks a later run. The marker
holds JSON naming the last holder (kind, pid, host, start time), which a refused second process
quotes in its message.

These functions act on the calling process's file system view and are not collective: under MPI
call them on rank 0 (see :func:`ecmx.solver.collective.on_root`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from ecmx.solver.errors import CaseError

MARKER = ".ecmx-owner"
"""Name of the ownership marker and lock file inside every directory ecmx writes."""


class DirectoryInUse(CaseError):
    """Another ecmx process holds the lock on the directory."""


def expand(path: str | Path) -> Path:
    """``~`` expanded, made absolute and normalised (``a/../b`` is ``b``; symbolic links are not resolved)."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def protected_reason(path: Path, case_file: Path | None = None) -> str | None:
    """Why ``path`` may never be replaced or deleted (None when it may be, if ecmx owns it)."""
    real = path.resolve()
    if real == Path(real.anchor):
        return "it is the root of the file system"
    if real == Path.home().resolve():
        return "it is your home directory"
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        return "it is the working directory or one of its parents"
    if case_file is not None:
        holder = Path(case_file).resolve().parent
        if real == holder or real in holder.parents:
            return f"it holds the case file {case_file}"
    return None


def is_owned(path: Path) -> bool:
    """True when ``path`` is a real directory (not a link) holding ecmx's marker file."""
    marker = path / MARKER
    return path.is_dir() and not path.is_symlink() and marker.is_file() and not marker.is_symlink()


def check_replaceable(path: Path, *, key: str = "output.directory", file: Path | None = None,
                      case_file: Path | None = None) -> None:
    """Raise CaseError unless ecmx may delete or replace ``path`` (which exists).

    Args:
        path: the existing directory to replace.
        key: the case key or option that named it (for the message).
        file: the input file that named it (for the message).
        case_file: the case file; its directory is protected.
    """
    reason = protected_reason(path, case_file)
    if reason is None and (path.is_symlink() or not path.is_dir()):
        reason = "it is not a directory (or is a symbolic link)"
    if reason is None and not is_owned(path):
        reason = (f"it is not an ecmx results directory (no {MARKER} marker); ecmx only replaces "
                  "directories it wrote — move it away or choose another output directory")
    if reason is not None:
        raise CaseError(f"refusing to replace {path}: {reason}", file=file, key=key)


def check_writable_into(path: Path, *, key: str = "output.directory", file: Path | None = None) -> None:
    """Raise CaseError unless ecmx may write into ``path``: absent, empty, or owned by ecmx."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise CaseError(f"{path} exists and is not a directory (or is a symbolic link)", file=file, key=key)
    if path.is_dir() and not is_owned(path) and any(path.iterdir()):
        raise CaseError(
            f"{path} exists and is not an ecmx results directory (no {MARKER} marker); ecmx does not "
            "write into directories it did not create — choose another output directory",
            file=file, key=key)


class DirectoryLock:
    """An exclusive lock on an ecmx-owned directory, held through its marker file.

    Use :meth:`create` for a directory ecmx makes now and :meth:`acquire` for one that exists.
    Release with :meth:`release` or by leaving the ``with`` block; the OS releases it at exit.
    """

    def __init__(self, path: Path, kind: str, fd: int):
        self.path = path
        self.kind = kind
        self._fd: int | None = fd

    @classmethod
    def create(cls, path: Path, kind: str, *, key: str = "output.directory", file: Path | None = None,
               exist_ok_if_empty: bool = False) -> DirectoryLock:
        """Make ``path`` (parents too), mark it as ecmx's and lock it.

        An existing empty directory is adopted when ``exist_ok_if_empty``; an existing owned one is
        locked; anything else is refused (CaseError).
        """
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            if is_owned(path):
                return cls.acquire(path, kind, key=key, file=file)
            if not (exist_ok_if_empty and path.is_dir() and not path.is_symlink() and not any(path.iterdir())):
                check_writable_into(path, key=key, file=file)
                raise CaseError(f"{path} already exists", file=file, key=key) from None
        except OSError as exc:
            raise CaseError(f"cannot create {path}: {exc.strerror}", file=file, key=key) from None
        return cls._lock(path, kind, os.O_CREAT, key, file)

    @classmethod
    def acquire(cls, path: Path, kind: str, *, key: str = "output.directory",
                file: Path | None = None) -> DirectoryLock:
        """Lock an existing ecmx-owned directory; DirectoryInUse when another process holds it."""
        if not is_owned(path):
            raise CaseError(f"{path} is not an ecmx results directory (no {MARKER} marker)", file=file, key=key)
        return cls._lock(path, kind, 0, key, file)

    @classmethod
    def _lock(cls, path: Path, kind: str, create: int, key: str, file: Path | None) -> DirectoryLock:
        try:
            fd = os.open(path / MARKER, os.O_RDWR | os.O_NOFOLLOW | create, 0o666)
        except OSError as exc:
            raise CaseError(f"cannot write into {path}: {exc.strerror}", file=file, key=key) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CaseError(f"cannot lock {path}: {exc.strerror}", file=file, key=key) from None
            raise DirectoryInUse(f"{path} is in use by {describe_holder(holder)}; wait for it to finish "
                                 "or choose another output directory", file=file, key=key) from None
        if not _same_file(fd, path / MARKER):  # replaced (a stale directory removed) while we waited
            os.close(fd)
            raise DirectoryInUse(f"{path} was replaced by another ecmx process while locking it; try again",
                                 file=file, key=key)
        lock = cls(path, kind, fd)
        lock._write_holder()
        return lock

    def _write_holder(self) -> None:
        holder = {"kind": self.kind, "pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        data = (json.dumps(holder) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def holds(self, path: Path) -> bool:
        """True while this lock is held on the marker that is now at ``path``'s marker (it follows renames)."""
        return self._fd is not None and _same_file(self._fd, path / MARKER)

    def moved_to(self, path: Path) -> None:
        """Record that the locked directory was renamed to ``path`` (the lock follows the inode)."""
        self.path = path

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    """True when ``path`` (not followed if a link) is still the file open as ``fd``."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def locked_by(path: Path) -> str | None:
    """Who holds the lock on the ecmx directory ``path`` (see :func:`describe_holder`), or None when
    nobody does (or ``path`` has no marker). Writes nothing; takes a shared lock for an instant."""
    try:
        fd = os.open(path / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return describe_holder(_read_holder(fd))
        return None
    finally:
        os.close(fd)
    return None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(holder: dict[str, Any]) -> str:
    """'ecmx run (pid 123 on host, started ...)' from a marker's JSON (or 'another ecmx process')."""
    if not holder.get("pid"):
        return "another ecmx process"
    return (f"another ecmx {holder.get('kind', 'process')} (pid {holder['pid']} on {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')})")


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_directory(new: Path, target: Path) -> None:
    """Put directory ``new`` at ``target``, replacing an existing ``target`` (which the caller has
    checked with :func:`check_replaceable` and locked); the old one is then deleted.

    On Linux the swap is atomic (``target`` is never missing); elsewhere the old directory is moved
    aside first. Nothing is left behind on success; a failure to delete the old copy raises OSError
    naming it.
    """
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new)
        return
    aside = target.with_name(f".{target.name}.ecmx-replaced-{os.getpid()}")
    os.rename(target, aside)
    os.rename(new, target)
    shutil.rmtree(aside)
