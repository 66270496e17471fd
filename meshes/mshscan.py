"""Structure check of a gmsh MSH file before gmsh reads it: format line, sections, declared sizes.

gmsh reads a file as a mesh only when its first line is ``$MeshFormat``; anything else it runs as a
script. And it allocates what a section declares before reading the data, so a file of a few
hundred bytes declaring 3·10⁸ nodes takes gigabytes in gmsh. :func:`scan_msh` therefore checks,
without reading any value, that a file is MSH 2.x or 4.1 (ASCII or binary), that it holds only
the sections a mesh needs (``$PhysicalNames``, ``$Entities``, ``$Nodes``, ``$Elements``,
``$Comments``), and that every declared count is at most :data:`MAX_ENTRIES` and matches the data
that follows it (ASCII: one node or element per line, as gmsh and meshio write them). It reads the
counts and record headers only, never the coordinates or connectivity.

Light: numpy and the standard library only (no gmsh).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ecmx.meshes.spec import MAX_CELLS

MAX_ENTRIES = 4 * MAX_CELLS
"""Most nodes or elements (cells plus facets) an MSH file may declare in one section or block."""

VERSIONS = {b"2": 2, b"2.0": 2, b"2.1": 2, b"2.2": 2, b"4.1": 4}
"""Accepted MSH format versions (the ``$MeshFormat`` version field) and their major version."""

SECTIONS = {2: {"PhysicalNames", "Nodes", "Elements", "Comments"},
            4: {"PhysicalNames", "Entities", "Nodes", "Elements", "Comments"}}
"""Sections read, by major version; ``$Nodes`` and ``$Elements`` are required."""

NODES_PER_ELEMENT = {1: 2, 2: 3, 3: 4, 4: 4, 5: 8, 6: 6, 7: 5, 8: 3, 9: 6, 10: 9, 11: 10, 12: 27,
                     13: 18, 14: 14, 15: 1, 16: 8, 17: 20, 18: 15, 19: 13}
"""Nodes of the gmsh element types 1..19 (linear and quadratic); needed to walk binary files."""

MAX_PHYSICAL_TAGS = 10_000
"""Most physical tags or bounding entities one $Entities record may list."""

MAX_LINE_BYTES = 1 << 20
"""Longest header or $Entities line read (split into fields, so its length bounds the memory)."""


class MshError(ValueError):
    """The file is not a well-formed MSH file ecmx reads; the message says what is wrong."""


@dataclass(frozen=True)
class Header:
    """The ``$MeshFormat`` of a file: major version (2 or 4), binary, byte order ('<' or '>')."""

    version: int
    binary: bool
    order: str
    end: int
    """Offset just after the ``$EndMeshFormat`` line."""


def show(line: bytes, limit: int = 40) -> str:
    """A line of unknown bytes, printable and short, for error messages."""
    text = line[:limit].decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return f"'{text}{'...' if len(line) > limit else ''}'"


NOT_MSH = ("only gmsh MSH mesh files are read (format 2.x or 4.1, ASCII or binary; first line "
           "$MeshFormat). A .geo file or another gmsh script is a program and is never opened: mesh "
           "it yourself after checking what it does (gmsh model.geo -3 -format msh4 -o model.msh)")


def leading_blank(data: bytes) -> int:
    """Number of blank bytes (spaces, tabs, line ends) before the first line with text."""
    return len(data) - len(data.lstrip(b" \t\r\n"))


def parse_header(data: bytes) -> Header:
    """Check the ``$MeshFormat`` section at the very start of `data`; MshError if not MSH 2.x/4.1."""
    first, _, rest = data.partition(b"\n")
    if first.rstrip() != b"$MeshFormat":
        raise MshError(f"not a gmsh MSH file (its first line is {show(first)}): {NOT_MSH}")
    line, _, rest = rest.partition(b"\n")
    fields = line.split()
    if len(fields) != 3 or fields[0] not in VERSIONS or fields[1] not in (b"0", b"1") or fields[2] != b"8":
        raise MshError(
            f"unsupported $MeshFormat line {show(line)}: expected '2.2 0 8' or '4.1 0 8' (ASCII) or "
            "'2.2 1 8' or '4.1 1 8' (binary); re-save the mesh from gmsh as MSH 4.1 or 2.2")
    binary, order = fields[1] == b"1", "<"
    if binary:
        one, rest = rest[:4], rest[4:].removeprefix(b"\n")
        if one not in (struct.pack("<i", 1), struct.pack(">i", 1)):
            raise MshError("binary MSH file without the integer 1 after its format line")
        order = "<" if one == struct.pack("<i", 1) else ">"
    end, _, _ = rest.partition(b"\n")
    if end.rstrip() != b"$EndMeshFormat":
        raise MshError(f"expected $EndMeshFormat after the format line, found {show(end)}")
    return Header(VERSIONS[fields[0]], binary, order, len(data) - len(rest) + len(end) + 1)


class _Cursor:
    """A read position in the file's bytes with bounds-checked line, byte and struct reads."""

    def __init__(self, data: bytes, header: Header):
        self.data, self.pos = data, header.end
        self.binary, self.order = header.binary, header.order
        self.bytes = np.frombuffer(data, dtype=np.uint8)

    def at_end(self) -> bool:
        """Skip blank bytes; True when nothing else is left."""
        while self.pos < len(self.data):
            chunk = self.data[self.pos:self.pos + (1 << 16)]
            blank = leading_blank(chunk)
            self.pos += blank
            if blank < len(chunk):
                return False
        return True

    def line(self) -> bytes:
        """The next line (at most MAX_LINE_BYTES), stripped; MshError at the end of the file."""
        if self.pos >= len(self.data):
            raise MshError("the file ends in the middle of a section")
        end = self.data.find(b"\n", self.pos, self.pos + MAX_LINE_BYTES + 1)
        if end < 0 and len(self.data) - self.pos > MAX_LINE_BYTES:
            raise MshError(f"a line of more than {MAX_LINE_BYTES} bytes where a header was expected")
        end = len(self.data) if end < 0 else end
        line, self.pos = self.data[self.pos:end].strip(), end + 1
        return line

    def numbers(self, count: int, what: str) -> list[int]:
        """The next line as exactly `count` non-negative integers."""
        line = self.line()
        fields = line.split()
        if len(fields) != count or not all(f.isdigit() and len(f) <= 19 for f in fields):
            raise MshError(f"expected {count} non-negative integer(s) ({what}), found {show(line)}")
        return [int(f) for f in fields]

    def skip_lines(self, count: int) -> None:
        """Move past `count` lines (vectorised: files have millions of lines)."""
        chunk = 1 << 16
        while count:
            block = self.bytes[self.pos:self.pos + chunk]
            if not len(block):
                raise MshError("the file ends before the data its sections declare")
            newlines = np.flatnonzero(block == ord("\n"))
            if len(newlines) >= count:
                self.pos += int(newlines[count - 1]) + 1
                return
            count -= len(newlines)
            self.pos += len(block)
            chunk = min(chunk * 2, 1 << 26)

    def skip_bytes(self, count: int, what: str) -> None:
        if not 0 <= count <= len(self.data) - self.pos:
            raise MshError(f"{what} declares more data than the file holds")
        self.pos += count

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        """Binary values (struct format without byte order) at the cursor."""
        size = struct.calcsize("<" + fmt)
        self.skip_bytes(size, "a binary record")
        return struct.unpack_from(self.order + fmt, self.data, self.pos - size)

    def end_binary(self, name: str) -> None:
        """After binary data: an optional line end, then ``$End<name>``."""
        if self.data[self.pos:self.pos + 1] == b"\n":
            self.pos += 1
        self.expect(f"$End{name}")

    def expect(self, text: str) -> None:
        line = self.line()
        if line != text.encode():
            raise MshError(f"expected {text}, found {show(line)}: the counts declared in the "
                           "section do not match its data (one node or element per line)")


def _limit(count: int, what: str) -> int:
    if count > MAX_ENTRIES:
        raise MshError(f"{what} declares {count} entries, more than the {MAX_ENTRIES} read "
                       f"(meshes are limited to {MAX_CELLS} cells)")
    return count


def _blocks_total(cursor: _Cursor, what: str, block: Callable[[_Cursor], int]) -> None:
    """MSH 4 $Nodes/$Elements: header 'blocks total min max', then blocks; totals must agree."""
    if cursor.binary:
        blocks, total, _, _ = cursor.unpack("4Q")
    else:
        blocks, total, _, _ = cursor.numbers(4, f"${what} header")
    _limit(blocks, f"${what} (blocks)")
    _limit(total, f"${what}")
    found = 0
    for _ in range(blocks):
        found += _limit(block(cursor), f"a ${what} block")
        if found > total:
            break
    if found != total:
        raise MshError(f"${what} declares {total} entries but its blocks hold {found}")


def _nodes_block_4(cursor: _Cursor) -> int:
    if cursor.binary:
        dim, _, parametric, count = cursor.unpack("iiiQ")
        if dim not in (0, 1, 2, 3) or parametric not in (0, 1):
            raise MshError(f"malformed $Nodes block header (dimension {dim}, parametric {parametric})")
        _limit(count, "a $Nodes block")
        cursor.skip_bytes(count * 8 * (1 + 3 + (dim if parametric else 0)), "a $Nodes block")
    else:
        _, _, _, count = cursor.numbers(4, "$Nodes block header: dim tag parametric count")
        cursor.skip_lines(2 * _limit(count, "a $Nodes block"))
    return count


def _elements_block_4(cursor: _Cursor) -> int:
    if cursor.binary:
        _, _, kind, count = cursor.unpack("iiiQ")
        _limit(count, "an $Elements block")
        cursor.skip_bytes(count * 8 * (1 + _nodes_of(kind)), "an $Elements block")
    else:
        _, _, _, count = cursor.numbers(4, "$Elements block header: dim tag type count")
        cursor.skip_lines(_limit(count, "an $Elements block"))
    return count


def _nodes_of(kind: int) -> int:
    if kind not in NODES_PER_ELEMENT:
        raise MshError(f"element type {kind} is not read (ecmx uses linear triangles and tetrahedra)")
    return NODES_PER_ELEMENT[kind]


def _entities_4(cursor: _Cursor) -> None:
    """MSH 4.1 $Entities: point, curve, surface and volume records with their tag lists."""
    counts = cursor.unpack("4Q") if cursor.binary else cursor.numbers(4, "$Entities header")
    for dim, count in enumerate(counts):
        for _ in range(_limit(count, "$Entities")):
            if cursor.binary:
                _entity_binary(cursor, dim)
            else:
                _entity_ascii(cursor, dim)


def _entity_binary(cursor: _Cursor, dim: int) -> None:
    cursor.unpack("i3d" if dim == 0 else "i6d")
    for _ in range(1 if dim == 0 else 2):  # physical tags, then bounding entities
        (count,) = cursor.unpack("Q")
        if count > MAX_PHYSICAL_TAGS:
            raise MshError(f"an $Entities record lists {count} tags")
        cursor.skip_bytes(4 * count, "an $Entities record")


def _entity_ascii(cursor: _Cursor, dim: int) -> None:
    line = cursor.line()
    fields = line.split()
    first = 4 if dim == 0 else 7  # position of numPhysicalTags
    try:
        physicals = int(fields[first])
        expected = first + 1 + physicals
        if dim > 0:
            expected += 1 + int(fields[expected])
    except (IndexError, ValueError):
        expected = -1
    if expected != len(fields):
        raise MshError(f"malformed $Entities record {show(line)}")


def _counted_lines(cursor: _Cursor, what: str) -> None:
    """A section of 'count' then one record per line ($PhysicalNames, MSH 2 ASCII data)."""
    (count,) = cursor.numbers(1, f"number of {what} records")
    cursor.skip_lines(_limit(count, f"${what}"))


def _nodes_2_binary(cursor: _Cursor) -> None:
    (count,) = cursor.numbers(1, "number of nodes")
    cursor.skip_bytes(_limit(count, "$Nodes") * (4 + 3 * 8), "$Nodes")


def _elements_2_binary(cursor: _Cursor) -> None:
    """MSH 2 binary elements: groups of (type, count, tags) headers and their int records."""
    (total,) = cursor.numbers(1, "number of elements")
    found = 0
    while found < _limit(total, "$Elements"):
        kind, count, tags = cursor.unpack("3i")
        if count <= 0 or not 0 <= tags <= MAX_PHYSICAL_TAGS or found + count > total:
            raise MshError(f"$Elements declares {total} elements but a group holds {count}")
        record = 4 * (1 + tags + _nodes_of(kind))
        cursor.skip_bytes(count * record, "an $Elements group")
        found += count
        if count == 1:  # gmsh writes a group per element: skip a run of equal groups at once
            run = _equal_groups(cursor, (kind, 1, tags), 12 + record, total - found)
            cursor.pos += run * (12 + record)
            found += run


def _equal_groups(cursor: _Cursor, head: tuple[int, int, int], stride: int, limit: int) -> int:
    """How many consecutive whole groups from the cursor (at most `limit`) have the header `head`."""
    available = min(limit, (len(cursor.data) - cursor.pos) // stride)
    heads = np.ndarray((available, 3), dtype=cursor.order + "i4", buffer=cursor.data,
                       offset=cursor.pos, strides=(stride, 4))
    equal = np.all(heads == np.array(head), axis=1)
    return available if equal.all() else int(np.argmin(equal))


def _section_reader(version: int, binary: bool, name: str) -> Callable[[_Cursor], None]:
    if name == "Comments":
        return _comments
    if name == "PhysicalNames":
        return lambda cursor: _counted_lines(cursor, name)  # text in binary files too
    if version == 4:
        return {"Entities": _entities_4,
                "Nodes": lambda cursor: _blocks_total(cursor, "Nodes", _nodes_block_4),
                "Elements": lambda cursor: _blocks_total(cursor, "Elements", _elements_block_4)}[name]
    if binary:
        return {"Nodes": _nodes_2_binary, "Elements": _elements_2_binary}[name]
    return lambda cursor: _counted_lines(cursor, name)


def _comments(cursor: _Cursor) -> None:
    end = cursor.data.find(b"\n$EndComments", cursor.pos - 1)
    if end < 0:
        raise MshError("$Comments without $EndComments")
    cursor.pos = end + 1


def scan_msh(data: bytes) -> Header:
    """Check the whole structure of the MSH file whose bytes are `data`; MshError if it is bad.

    `data` must start with ``$MeshFormat`` (strip leading blank lines first: gmsh reads a file as
    a mesh only when its very first line is ``$MeshFormat``).
    """
    header = parse_header(data[:256])
    cursor = _Cursor(data, header)
    seen: set[str] = set()
    while not cursor.at_end():
        line = cursor.line()
        name = line[1:].decode("ascii", "replace")
        if not line.startswith(b"$"):
            raise MshError(f"unexpected line {show(line)} between the sections of the MSH file")
        if name not in SECTIONS[header.version]:
            raise MshError(
                f"section {show(line)} is not read: ecmx reads only the sections "
                f"{', '.join('$' + s for s in sorted(SECTIONS[header.version]))} of an MSH "
                f"{header.version} file; save the mesh without the others (no post-processing "
                "data, periodicity or partitions)")
        if name in seen and name != "Comments":
            raise MshError(f"section ${name} appears twice")
        seen.add(name)
        _section_reader(header.version, header.binary, name)(cursor)
        if header.binary and name in ("Entities", "Nodes", "Elements"):
            cursor.end_binary(name)
        else:
            cursor.expect(f"$End{name}")
    missing = [f"${n}" for n in ("Nodes", "Elements") if n not in seen]
    if missing:
        raise MshError(f"no {' or '.join(missing)} section: the file holds no mesh")
    return header
