"""Compiled form modules are loaded by file name and once per process (ecmx.solver.fem.jit_modules).

FFCx lists its whole cache directory (thousands of files) at every load of a compiled module; a sweep
worker loaded the same ~32 modules again for every run. Measured on the sensitivity runs of
cases/nvp-vs-hev.yaml: JIT 0.2-0.37 s of each 0.5-1.8 s run before.
"""

from __future__ import annotations

import importlib.machinery

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ffcx.codegeneration.jit
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from ecmx.solver.fem import jit_modules  # importing ecmx.solver.fem installs the loader


def _form() -> fem.Form:
    """The same form signature on a new mesh every call (as every run of a sweep builds it)."""
    msh = mesh.create_unit_interval(MPI.COMM_SELF, 4)
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    x = ufl.SpatialCoordinate(msh)
    return fem.form(u * u * x[0] ** 2 * ufl.dx)


def test_ffcx_loads_through_ecmx() -> None:
    assert ffcx.codegeneration.jit.get_cached_module is jit_modules.load_cached_module


def test_a_compiled_form_loads_again_without_listing_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    _form()  # compiled (first time on this machine) or loaded

    def listing(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the JIT cache directory was searched")

    monkeypatch.setattr(importlib.machinery.FileFinder, "find_spec", listing)
    again = _form()
    assert fem.assemble_scalar(again) == 0.0  # usable: the compiled kernel runs


def test_a_module_compiled_before_loads_from_its_file_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    _form()
    loaded = dict(jit_modules._LOADED)
    (cache_dir, name), module = next((key, m) for key, m in loaded.items() if key[1].startswith("libffcx_forms_"))
    jit_modules._LOADED.clear()
    try:
        objects, fresh = jit_modules.load_cached_module(name, [], cache_dir, 1)
        assert objects == [] and fresh.lib is not None  # from the file, no FFCx finder
        again, same = jit_modules.load_cached_module(name, [], cache_dir, 1)
        assert same is fresh
        missing = tmp_path_factory.mktemp("cache")
        assert jit_modules._load_compiled(missing, name) is None  # never compiled there: FFCx decides
    finally:
        jit_modules._LOADED.update(loaded)


def test_ffcx_formats_its_options_only_for_a_shown_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import pprint

    import ffcx.options

    formatted = []
    real = pprint.pformat
    monkeypatch.setattr(pprint, "pformat", lambda value, *a, **k: formatted.append(1) or real(value, *a, **k))
    options = ffcx.options.get_options({"epsilon": 1e-14})
    assert options["epsilon"] == 1e-14 and formatted == []  # not shown: never formatted
    assert str(jit_modules.LazyFormat(options)) == real(options)
