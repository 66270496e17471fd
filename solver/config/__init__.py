"""Configuration: YAML case, material, sweep and comparison files → validated SI objects.

No DOLFINx and no PETSc here. Public entry points: :func:`load_case` (a case file, with ``--set``
overrides), :func:`load_sweep` and :func:`load_comparison` (study files), and the schema classes.

Modules, one job each: :mod:`.schema` (the base section and shared field types), :mod:`.materials`
(material and electrolyte), :mod:`.geometry` (geometry, mesh sizes and the mesh-cost estimate),
:mod:`.case` (protocol, mechanics, solver settings, output, :class:`Case` and loading),
:mod:`.studies` (sweep and comparison files), :mod:`.library` (library entries and ``base:``),
:mod:`.overrides` (``--set``), :mod:`.messages` (validation errors → one CaseError),
:mod:`.safe_yaml` (the bounded YAML reader), :mod:`.docgen` (the key reference generated from the
schema: ``ecmx schema``, ``docs/case-keys.md``), :mod:`.editor_schema` (JSON Schemas for editors)
and :mod:`.catalogue` (the material library listing, ``ecmx materials``).
"""

from ecmx.solver.config.case import Case, case_from_dict, load_case
from ecmx.solver.config.geometry import Geometry
from ecmx.solver.config.materials import Electrolyte, Material
from ecmx.solver.config.studies import Comparison, Sweep, load_comparison, load_sweep

__all__ = ["Case", "Comparison", "Electrolyte", "Geometry", "Material", "Sweep", "case_from_dict", "load_case",
           "load_comparison", "load_sweep"]
