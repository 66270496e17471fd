"""Finite-element layer: the coupled cell problem, its Newton solver, the mechanics and their coupling.

The only layer (with ``meshes/`` and the field writers) that holds DOLFINx and PETSc objects.
"""

import ecmx.solver._compat

ecmx.solver._compat.use_own_jit_cache()
