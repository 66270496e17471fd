"""ecmx: finite-element electro-chemo-mechanics of battery cathode particles — the Python API.

Every name is imported on first use, so ``import ecmx`` is light (no DOLFINx, no PETSc)::

    import ecmx

    case = ecmx.load_case("cases/nvp.yaml", ["geometry.kind=sphere-1d"])  # --set overrides
    result = ecmx.run_case(case, out_dir="results/nvp-1d", progress=False)
    run = ecmx.load_run(result.directory)
    run.timeseries.plot(x="time_s", y="voltage_V")  # a pandas DataFrame

Cases and studies: :func:`load_case`, :func:`run_case`, :func:`load_sweep`, :func:`run_sweep`,
:func:`load_comparison`, :func:`run_comparison` (the same as ``ecmx run``/``sweep``/``compare``).
Results as pandas DataFrames: :func:`load_run` (a run directory), :func:`load_sweep_results`
(``summary.csv``), :func:`load_comparison_results` (``table.csv``, ``ratios.csv`` and each case's
run). The package is ``solver/_ecmx/`` in the source tree (mapped to ``ecmx`` by pyproject.toml).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ecmx.solver.threads import one_blas_thread_per_rank

one_blas_thread_per_rank()  # before numpy and PETSc load their BLAS (ecmx.solver.threads)

_API = {
    "load_case": "ecmx.solver.config.case",
    "load_sweep": "ecmx.solver.config.studies",
    "load_comparison": "ecmx.solver.config.studies",
    "run_case": "ecmx.solver.studies.run",
    "run_sweep": "ecmx.solver.studies.sweep",
    "run_comparison": "ecmx.solver.studies.compare",
    "load_run": "ecmx.results",
    "load_sweep_results": "ecmx.results",
    "load_comparison_results": "ecmx.results",
    "copy_cases": "ecmx.solver.studies.examples",
    "Run": "ecmx.results",
    "ComparisonResults": "ecmx.results",
    "CaseError": "ecmx.solver.errors",
    "SolveError": "ecmx.solver.errors",
    "__version__": "ecmx.solver",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'ecmx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
