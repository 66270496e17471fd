"""Finite-element layer: the coupled cell problem, its Newton solver, the mechanics and their coupling.

The only layer (with ``meshes/`` and the field writers) that holds DOLFINx and PETSc objects.
"""

import ecmx.solver._compat
from ecmx.solver.fem import jit_modules

ecmx.solver._compat.use_own_jit_cache()
jit_modules.install()
