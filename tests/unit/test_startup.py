"""Start-up cost of a run: what ``ecmx run`` imports, and the pint-free conversion of plain quantities.

A small run (sphere-1d) is dominated by start-up: scipy.interpolate (~0.8 s), pint's registry
(~0.7 s), scipy.special (~0.4 s) and meshio (~0.25 s) were loaded by every run and are needed only
by rare paths (monotone smoothing, unusual unit strings, irregular particle shapes, the older VTU
format). scipy.sparse (~0.25 s) built the coupled Jacobian's pruned sparsity pattern; numpy does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pint
import pytest

from ecmx.solver import units

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pint", "scipy.interpolate", "scipy.special", "scipy.sparse", "meshio")


def test_loading_a_case_and_the_run_driver_imports_no_heavy_module() -> None:
    code = (
        "import json, sys\n"
        "from ecmx.solver.config.case import load_case\n"
        "import ecmx.solver.studies.run, ecmx.meshes, ecmx.solver.fem.cell_problem, ecmx.solver.fem.mechanics_case\n"
        f"load_case({str(ROOT / 'cases' / 'nvp.yaml')!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_plain_quantities_convert_as_pint_does() -> None:
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    for text, (si_unit, _, _) in units.SIMPLE_UNITS.items():
        for number in ("1", "0.125", "-2.5", "1e-15", "27661", "3.5E+2", ".5"):
            expected = float(f"{float(ureg.Quantity(f'{number} {text}').to(si_unit).magnitude):.15g}")
            assert units.to_si(f"{number} {text}", si_unit) == expected, f"{number} {text}"


def test_plain_quantity_of_the_wrong_dimension_still_names_the_unit() -> None:
    with pytest.raises(ValueError, match=r"expected a quantity in m\b"):
        units.to_si("1 s", "m")
    with pytest.raises(ValueError, match="digits"):
        units.to_si("1" * 40 + " um", "m")
    with pytest.raises(ValueError, match="finite"):
        units.to_si("1e400 um", "m")


def test_compiled_forms_go_to_ecmx_own_jit_cache() -> None:
    """FFCx lists the cache directory at every module load: ecmx keeps its forms apart from a shared
    FEniCS cache (a user's cache_dir in DOLFINx's option files still wins: only the default moves)."""
    import ecmx.solver.fem  # noqa: F401, I001  (first: every module that compiles forms imports it)
    import dolfinx.jit

    default = Path(str(dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"][0]))
    assert default.name == "ecmx" and default.parent.name == "fenics"
