"""The finite (exact) isotropic chemical strain, ``chemical_expansion.strain: finite``.

A volume change ΔV/V against the stress-free state is a length change (1 + ΔV/V)^{1/3} − 1; the
default linear law uses (ΔV/V)/3, which overstates it by ~ΔV/(3V): 2.7 % for NVP (ΔV/V = 8.26 %).
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI
from support.problem_helpers import make_case

from ecmx.solver.errors import CaseError
from ecmx.solver.fem.crystal import chemical_strain_of
from ecmx.solver.physics.chemical_strain import FiniteIsotropicStrain

NVP_EXPANSION = {"volume_change": 0.0826, "over": [0.25, 0.75]}


def strain_law(expansion: dict):
    case = make_case("sphere-1d", material={"chemical_expansion": expansion, "stoichiometry_window": [0.25, 0.75]})
    return chemical_strain_of(case.material), case.material


def test_finite_strain_of_nvp_is_the_cube_root():
    linear, _ = strain_law(NVP_EXPANSION)
    finite, material = strain_law(NVP_EXPANSION | {"strain": "finite"})
    assert isinstance(finite, FiniteIsotropicStrain) and material.partial_molar_volume is None
    beta_lin, _ = linear.axial_strains_at(0.75, 0.25)
    beta, beta_c = finite.axial_strains_at(0.75, 0.25)
    assert beta_lin == pytest.approx(0.0826 / 3, rel=1e-12)
    assert beta == pytest.approx(1.0826 ** (1 / 3) - 1, rel=1e-12) and beta_c == beta
    assert beta_lin / beta - 1 == pytest.approx(0.0270, abs=5e-4)  # the issue's ~2.7 %
    # from the discharged state (volume linear in c_s, ΔV/V = −8.26 %): a contraction
    assert finite.axial_strains_at(0.25, 0.75)[0] == pytest.approx((1 - 0.0826) ** (1 / 3) - 1, rel=1e-12)


def test_finite_strain_of_a_volume_table_in_ufl_matches_numpy():
    table = {"stoichiometry": [0.0, 0.4, 1.0], "value": [0.0, 0.05, 0.06]}
    law, _ = strain_law({"volume_change_table": table, "strain": "finite"})
    msh = dolfinx.mesh.create_interval(MPI.COMM_SELF, 50, [0.0, 1.0])
    V = fem.functionspace(msh, ("Lagrange", 1))
    theta = fem.Function(V)
    theta.interpolate(lambda p: p[0])
    got = fem.Function(V)
    got.interpolate(fem.Expression(law.axial_strains(theta, 0.4)[0], V.element.interpolation_points))
    ratio = (1 + np.interp(theta.x.array, table["stoichiometry"], table["value"])) / 1.05
    assert got.x.array == pytest.approx(ratio ** (1 / 3) - 1, rel=1e-12, abs=1e-15)


def test_finite_strain_is_refused_with_lattice_data_and_two_way_coupling():
    lattice = {"lattice": {"stoichiometry": [0.0, 1.0], "a": [1.0, 1.01], "c": [1.0, 1.02]}, "strain": "finite"}
    with pytest.raises(CaseError, match="strain: finite applies to the isotropic forms") as info:
        strain_law(lattice)
    assert info.value.key == "material.chemical_expansion"
    from ecmx.solver.fem.coupling import two_way_partial_molar_volume

    _, material = strain_law(NVP_EXPANSION | {"strain": "finite"})
    with pytest.raises(CaseError, match="two-way coupling needs an isotropic expansion linear"):
        two_way_partial_molar_volume(material)
