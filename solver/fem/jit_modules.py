"""Compiled form modules loaded by their file name, once per process.

FFCx (0.10) loads a form module it compiled before with an ``importlib`` ``FileFinder`` over the whole
cache directory, whose caches it first invalidates: every load lists the directory (ecmx's cache holds
thousands of files: 9-17 ms a listing on the 2-core machine) and executes the extension module again.
A sphere-1d run loads about 32 modules, a 3D run about 48, and every run of a sweep or comparison
worker loads the same ones again: 0.2-0.37 s of a 0.5-1.8 s sensitivity run went there.

:func:`load_cached_module` takes the place of FFCx's ``get_cached_module`` (:func:`install`): a module
whose compilation finished (its ``.c.cached`` marker exists) is loaded from its extension file by
name, without listing the directory, and kept for the life of the process, keyed by the cache
directory and the module name. The name is FFCx's signature of the forms, the form-compiler options
and the compiler (``libffcx_forms_<sha1>``), so one name is one compiled code: a second run with
forms of the same signature gets the objects of the first. Anything else (a module not compiled
yet, or being compiled by another process) goes to FFCx's own function, unchanged.

FFCx also formats its whole option set with ``pprint.pformat`` for an info log message at every
option lookup (two per compiled form: ~60 per run), whether or not the message is shown;
:func:`install` makes that formatting lazy (done when a handler emits the message).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import pprint
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ffcx.codegeneration.jit as ffcx_jit
import ffcx.options

_LOADED: dict[tuple[str, str], Any] = {}
"""(cache directory, module name) → the loaded extension module, for the life of the process."""

_FFCX_GET_CACHED_MODULE: Callable[..., tuple[Any, Any]] | None = getattr(ffcx_jit, "get_cached_module", None)
"""FFCx's own loader (None in an FFCx without it: then :func:`install` changes nothing)."""


def load_cached_module(module_name: str, object_names: Sequence[str], cache_dir: str | Path,
                       timeout: int) -> tuple[list[Any] | None, Any]:
    """FFCx's ``get_cached_module`` (same arguments and results): (the compiled objects named
    ``object_names``, their module), or (None, None) when the caller is to compile the module.

    A module loaded before in this process, or compiled before (``<name>.c.cached`` and its extension
    file present in ``cache_dir``), is returned without listing the directory; otherwise FFCx's
    function decides (it creates the ``.c`` file that claims the compilation, or waits for another
    process's)."""
    key = (str(cache_dir), module_name)
    module = _LOADED.get(key)
    if module is None:
        module = _load_compiled(Path(cache_dir), module_name)
    if module is None:
        objects, module = _FFCX_GET_CACHED_MODULE(module_name, object_names, cache_dir, timeout)
        if module is None:
            return None, None
    _LOADED[key] = module
    return [getattr(module.lib, name) for name in object_names], module


def _load_compiled(cache_dir: Path, module_name: str) -> Any:
    """The module ``module_name`` from its extension file in ``cache_dir`` when its compilation
    finished, else None."""
    if not (cache_dir / f"{module_name}.c.cached").exists():
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = cache_dir / f"{module_name}{suffix}"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    return None


class LazyFormat:
    """``pprint.pformat(value)`` when the log message holding it is formatted, not before."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)


def install() -> None:
    """Make FFCx load its cached modules with :func:`load_cached_module` and format its option log
    messages lazily (idempotent). An FFCx whose internals differ from 0.10's (no ``get_cached_module``,
    no ``pprint`` in its options module) is left as it is: the speed-up is lost, nothing else."""
    if _FFCX_GET_CACHED_MODULE is None or not hasattr(ffcx.options, "pprint"):
        return
    ffcx_jit.get_cached_module = load_cached_module
    ffcx.options.pprint = types.SimpleNamespace(pformat=LazyFormat)
