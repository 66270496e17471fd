"""Constitutive laws as UFL expressions and weak-form pieces (no meshes, no solvers).

Every function here works on nondimensional quantities (see :mod:`ecmx.solver.fem.cell_problem` for the
scales) and is shared by all geometry kinds: the caller supplies the gradient operator and the
(radially weighted) measures.
"""
