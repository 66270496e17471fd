"""Bounded, safe reading of the input files a user hands to ecmx.

Case, base, material, electrolyte, sweep and comparison files (YAML), OCV tables (CSV) and mesh
files are untrusted input: they may be shared, generated or simply wrong. This module opens them
so that nothing can make ecmx read without bound or block:

- only regular files are read: a directory, a device (``/dev/zero``), a FIFO or a socket is refused
  from its ``fstat`` before a single byte is read (the file is opened non-blocking, so opening a
  FIFO with no writer cannot hang);
- a file over its size limit is refused (:data:`MAX_YAML_BYTES`, :data:`MAX_CSV_BYTES`,
  :data:`MAX_MESH_BYTES`), and at most one byte past the limit is read even if the file grows;
- text is decoded strictly as UTF-8 (a UTF-8 byte-order mark is dropped); UTF-16 without a BOM,
  Latin-1 or binary content, and text holding NUL characters, are refused.

Every refusal is a :class:`~ecmx.solver.errors.CaseError` naming the file and the key that led
to it. Results are written with :func:`atomic_write_text` / :func:`atomic_write_bytes` (one
write-then-rename with the user's umask). This is a leaf module: it imports nothing from ecmx but the errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from ecmx.solver.errors import CaseError

MIB = 1024 * 1024

MAX_YAML_BYTES = 1 * MIB
"""Largest case, base, material, electrolyte, sweep or comparison file (YAML), bytes."""

MAX_CSV_BYTES = 10 * MIB
"""Largest data table (CSV, e.g. an open-circuit voltage table), bytes."""

MAX_MESH_BYTES = 256 * MIB
"""Largest mesh file named by ``geometry.file``, bytes (an ASCII .msh of 2 million tetrahedra takes about 100 MB)."""

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _limit_text(max_bytes: int) -> str:
    return f"{max_bytes / MIB:g} MiB" if max_bytes >= MIB else f"{max_bytes} bytes"


class Refusal:
    """Builds the CaseError for one input file.

    A file given directly (``named_in`` None) is named as the error's file. A file named by a key
    of another file (a material file, an OCV table, a mesh file) is named in the message, and the
    error's file and key are where it was named.
    """

    def __init__(self, path: Path, *, key: str | None, what: str, named_in: Path | None = None):
        self.path, self.key, self.what, self.named_in = path, key, what, named_in

    def __call__(self, problem: str) -> CaseError:
        """A problem with the file itself (``"not found"``, ``"is a directory: ..."``)."""
        if self.named_in is None:
            return CaseError(f"{self.what} {problem}", file=self.path, key=self.key)
        return self.content(problem)

    def content(self, problem: str) -> CaseError:
        """A problem with what the file says (``"malformed YAML at line 3: ..."``)."""
        if self.named_in is None:
            return CaseError(problem, file=self.path, key=self.key)
        return CaseError(f"{self.what} {self.path}: {problem}", file=self.named_in, key=self.key)

    def os_error(self, exc: OSError) -> CaseError:
        if isinstance(exc, FileNotFoundError):
            return self("not found")
        return self(f"cannot be read: {exc.strerror or exc}")

    def check_stat(self, st: os.stat_result, max_bytes: int) -> None:
        """Refuse a non-regular file, or one larger than ``max_bytes``."""
        if not stat.S_ISREG(st.st_mode):
            raise self(f"is {_kind(st.st_mode)}: expected a regular file")
        if st.st_size > max_bytes:
            raise self(f"is {st.st_size} bytes: expected at most {_limit_text(max_bytes)}")


def check_regular_file(
    path: str | Path, *, key: str | None, what: str, max_bytes: int, named_in: Path | None = None
) -> Path:
    """Check that ``path`` is an existing regular file of at most ``max_bytes``; return it resolved.

    Reads nothing: for files another component opens (mesh files). ``what`` names the file in the
    message (``"mesh file"``); ``key`` is the dotted key that named it, in the file ``named_in``
    (None: the file was given directly, and the error names it).
    """
    path = Path(path).expanduser()
    refuse = Refusal(path, key=key, what=what, named_in=named_in)
    try:
        st = path.stat()
    except OSError as exc:
        raise refuse.os_error(exc) from None
    refuse.check_stat(st, max_bytes)
    return path.resolve()


def read_text_file(
    path: str | Path, *, key: str | None, what: str, max_bytes: int, named_in: Path | None = None
) -> str:
    """Read a regular file of at most ``max_bytes`` bytes as strict UTF-8 text.

    ``what`` names the file in messages (``"case file"``, ``"OCV table"``); ``key`` is the dotted key
    that named the file, in the file ``named_in`` (None: the file was given directly, e.g. on the
    command line, and the error names it). Raises CaseError for a missing or unreadable file, a
    directory, device, FIFO or socket, a file over the limit, and text that is not UTF-8 or holds
    NUL characters.
    """
    path = Path(path).expanduser()
    refuse = Refusal(path, key=key, what=what, named_in=named_in)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise refuse.os_error(exc) from None
    try:
        refuse.check_stat(os.fstat(fd), max_bytes)
        chunks: list[bytes] = []
        remaining = max_bytes + 1  # one byte more than allowed tells a file that grew after fstat
        while remaining > 0:
            chunk = os.read(fd, min(remaining, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise refuse.os_error(exc) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise refuse(f"is larger than {_limit_text(max_bytes)}")
    return _decode(data, refuse)


def _decode(data: bytes, refuse: Refusal) -> str:
    """Strict UTF-8 (an optional UTF-8 BOM is dropped); NUL characters mark a binary file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): expected a UTF-8 text file"
        ) from None
    if "\x00" in text:
        raise refuse(f"holds NUL characters (offset {text.index(chr(0))}): expected UTF-8 text, not binary data or UTF-16")
    return text


# --------------------------------------------------------------------------------------------
# Writing: one write-then-rename


def user_file_mode() -> int:
    """Permission bits of a new file under the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``os.replace``.

    A reader sees the old file or the new one, never a half-written one, and a failure leaves
    ``path`` as it was (the temporary file is removed). The file gets the user's umask permissions
    (``0o666 & ~umask``), not ``0o600``. With ``durable`` the data is flushed to disk (``fsync``)
    before the rename, so that a full disk surfaces here as an OSError. Not collective.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, user_file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> None:
    """:func:`atomic_write_bytes` of ``text`` as UTF-8 (newlines written as given)."""
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """A JSON object that ecmx wrote (a marker, summary or record); None when the file is missing,
    unreadable, not JSON or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
