"""The one YAML reader for every input file and ``--set`` value: safe, bounded, strict.

YAML is untrusted input. :class:`SafeYAMLLoader` is PyYAML's safe loader with limits: no tags
(``!!python/...``, ``!!binary``, any ``!tag``), no duplicate keys in a mapping, nesting at most
:data:`MAX_YAML_DEPTH` deep, at most :data:`MAX_YAML_NODES` values after alias expansion (the
"billion laughs" file of nested aliases is refused while it is composed, before anything expands
it), no recursive aliases, and integers of at most :data:`MAX_YAML_INT_DIGITS` digits. Files are
read through :mod:`ecmx.solver.files` (regular files of at most 1 MiB, strict UTF-8).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

from ecmx.solver.files import MAX_YAML_BYTES, Refusal, read_text_file

MAX_YAML_DEPTH = 32
"""Deepest nesting of mappings and lists in a YAML document."""

MAX_YAML_NODES = 200_000
"""Most values (scalars, lists and mappings) a YAML document may hold, counting each alias as a
full copy of what it refers to. Far above any case, sweep or table file; far below what would
exhaust memory when the data is copied and validated."""

MAX_YAML_INT_DIGITS = 30
"""Longest integer literal in YAML, characters."""


class UnsafeYAMLError(yaml.MarkedYAMLError):
    """Well-formed YAML that ecmx refuses: a tag, a duplicate key, or a document beyond the limits."""


class SafeYAMLLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without tags, duplicate keys, deep nesting or alias bombs (see module)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if getattr(event, "tag", None) is not None:
            raise UnsafeYAMLError(problem=f"YAML tags are not allowed (found {event.tag!r})", problem_mark=event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise UnsafeYAMLError(
                    problem=f"nested more than {MAX_YAML_DEPTH} levels deep", problem_mark=event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _expanded_size(node, {}, set())
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if first is not key_node:
                raise UnsafeYAMLError(
                    problem=f"duplicate key {key!r} (first given at line {first.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_YAML_INT_DIGITS:
            raise UnsafeYAMLError(
                problem=f"an integer of {len(node.value)} characters; at most {MAX_YAML_INT_DIGITS} are read",
                problem_mark=node.start_mark,
            )
        return super().construct_yaml_int(node)


SafeYAMLLoader.add_constructor("tag:yaml.org,2002:int", SafeYAMLLoader.construct_yaml_int)


def _expanded_size(node: yaml.Node, sizes: dict[int, tuple[int, int]], open_nodes: set[int]) -> tuple[int, int]:
    """(values, nesting depth) under ``node`` with every alias expanded.

    Raises UnsafeYAMLError past MAX_YAML_NODES values or MAX_YAML_DEPTH levels (chained aliases
    nest deeper than the text), or for a recursive alias. Aliases are shared node objects, so
    memoising by identity keeps this linear in the document, and the recursion is at most
    MAX_YAML_DEPTH deep.
    """
    done = sizes.get(id(node))
    if done is not None:
        return done
    if id(node) in open_nodes:
        raise UnsafeYAMLError(problem="a recursive alias (a collection that contains itself)", problem_mark=node.start_mark)
    size, depth = 1, 1
    if isinstance(node, yaml.CollectionNode):
        open_nodes.add(id(node))
        if len(open_nodes) > MAX_YAML_DEPTH:
            raise UnsafeYAMLError(
                problem=f"nested more than {MAX_YAML_DEPTH} levels deep (through aliases)", problem_mark=node.start_mark
            )
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            child_size, child_depth = _expanded_size(child, sizes, open_nodes)
            size, depth = size + child_size, max(depth, child_depth + 1)
            if size > MAX_YAML_NODES:
                raise UnsafeYAMLError(
                    problem=f"the document expands to more than {MAX_YAML_NODES} values (nested aliases?)",
                    problem_mark=node.start_mark,
                )
        open_nodes.discard(id(node))
    if depth > MAX_YAML_DEPTH:
        raise UnsafeYAMLError(problem=f"nested more than {MAX_YAML_DEPTH} levels deep (through aliases)",
                              problem_mark=node.start_mark)
    sizes[id(node)] = (size, depth)
    return size, depth


def load_yaml_text(text: str) -> Any:
    """Parse YAML text with :class:`SafeYAMLLoader` (one document); a deep copy of what it gave the last
    time for the same text (up to :data:`PARSE_CACHE_TEXT` characters), so the caller may change it.

    A comparison reads the same case and library files once per run variant (about 115 reads for
    ``nvp-vs-hev.yaml``, 0.5 s of parsing); each distinct text is parsed once per process.

    Raises :class:`UnsafeYAMLError` for refused content and other ``yaml.YAMLError`` for malformed text
    (every time: failures are not kept).
    """
    if len(text) > PARSE_CACHE_TEXT:
        return _parse(text)
    return copy.deepcopy(_parsed(text))


PARSE_CACHE_TEXT = 64 * 1024
"""Longest YAML text [characters] whose parse is kept for the next identical text."""


def _parse(text: str) -> Any:
    return yaml.load(text, Loader=SafeYAMLLoader)  # a SafeLoader subclass: safe


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    """The parse of ``text``, kept (never handed out: :func:`load_yaml_text` copies it)."""
    return _parse(text)


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: what was refused or malformed, and where."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{'refused' if isinstance(exc, UnsafeYAMLError) else 'malformed'} YAML{where}: {problem}"


def read_yaml(
    path: Path, key: str | None = None, what: str = "YAML file", named_in: Path | None = None
) -> dict[str, Any]:
    """Read a YAML mapping from a file with the safe, bounded loader.

    ``what`` names the file in messages (``"case file"``, ``"sweep base"``). ``key`` is the dotted
    key that named the file, in the file ``named_in``; errors then name both files and the key
    (without ``named_in`` they name ``path``).
    """
    path = Path(path).expanduser().resolve()
    text = read_text_file(path, key=key, what=what, max_bytes=MAX_YAML_BYTES, named_in=named_in)
    refuse = Refusal(path, key=key, what=what, named_in=named_in)
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise refuse.content(describe_yaml_error(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise refuse.content(f"expected a YAML mapping at the top level, got {type(data).__name__}")
    return data
