"""Configuration: YAML case, material, sweep and comparison files → validated SI objects.

No DOLFINx and no PETSc here. Public entry points: :func:`load_case` (a case file, with ``--set``
overrides), :func:`load_sweep` and :func:`load_comparison` (study files), and the schema classes.
"""

from ecmx.solver.config.case import Case, Electrolyte, Geometry, Material, case_from_dict, load_case
from ecmx.solver.config.studies import Comparison, Sweep, load_comparison, load_sweep

__all__ = ["Case", "Comparison", "Electrolyte", "Geometry", "Material", "Sweep", "case_from_dict", "load_case",
           "load_comparison", "load_sweep"]
