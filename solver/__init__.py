"""ecmx solver: configuration, physics, finite elements, time loop, studies and the CLI.

Layers (imports point down only): ``errors``/``units``/``files``/``threads`` → ``config`` → ``physics`` →
(``ecmx.meshes``) → ``fem`` → ``timeloop`` → ``studies`` → ``cli``; ``ecmx.postprocess`` reads what
``studies`` writes.

Python API (imported on first use, so ``import ecmx.solver`` stays light)::

    from ecmx.solver import load_case, run_case, load_run
    case = load_case("cases/nvp.yaml", ["material.diffusivity=1e-14"])
    result = run_case(case, out_dir="results/nvp")
    run = load_run(result.directory)
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("ecmx")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

_API = {
    "load_case": "ecmx.solver.config.case",
    "load_sweep": "ecmx.solver.config.studies",
    "load_comparison": "ecmx.solver.config.studies",
    "run_case": "ecmx.solver.studies.run",
    "run_sweep": "ecmx.solver.studies.sweep",
    "run_comparison": "ecmx.solver.studies.compare",
    "load_run": "ecmx.postprocess.rundata",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'ecmx.solver' has no attribute {name!r}")
