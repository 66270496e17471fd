"""Where the Jacobian assembly of the coupled cell problem spends its time, block by block (a benchmark,
not a test).

    .venv/bin/python bench/bench_jacobian_blocks.py [--mesh 0.5:0.25] [--repeats 15]

For the default 3D problem of bench/bench_step_cost.py (cases/nvp.yaml's sphere in its electrolyte box,
1C discharge, two 5 s steps taken) at one mesh size (size:interface_size in µm), on one rank, it prints
the least process time over ``--repeats`` of

- every Jacobian block (row unknown × column unknown) and integral type, assembled alone into its own
  DOLFINx CSR matrix (kernel and insertion; the cost the blocked assembly pays per block),
- each part of the SNES Jacobian (a fused group of :mod:`ecmx.solver.fem.fused_jacobian`: unknowns on one
  space, one kernel for their cell blocks; or a block outside the groups) assembled into its own CSR
  matrix, and the one ``MatSetValuesCOO`` that puts all their values into the global matrix,
- the whole SNES Jacobian against DOLFINx's block-by-block assembly of the same forms (what SNES
  assembled before the fusion), timed alternately so that both see the same load, and one residual,

and the sparsity of the global matrix: the dense rows and columns (the one-sided interface integrals
and the cell voltage) and how many stored entries are zero.
"""

from __future__ import annotations

import argparse

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import ufl
from bench_step_cost import least_cpu_time as least  # bench/ is the script's directory (sys.path[0])
from dolfinx import fem
from dolfinx.fem.forms import derivative_block
from mpi4py import MPI

from ecmx.meshes import load_mesh
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.fem.cell_problem import CellProblem


def problem_after_two_steps(size_um: float, interface_um: float) -> CellProblem:
    """The NVP sphere in its electrolyte box at 1C discharge, after two accepted 5 s steps."""
    case = case_from_dict({
        "name": "bench", "material": "nvp", "electrolyte": "naclo4-ec-pc",
        "geometry": {"kind": "particle-in-electrolyte", "particle": {"shape": "sphere", "radius": 1e-6},
                     "electrolyte": {"thickness": 3e-6},
                     "mesh": {"size": size_um * 1e-6, "interface_size": interface_um * 1e-6}},
        "initial": {"state_of_charge": 1.0},
        "protocol": [{"step": "discharge", "c_rate": 1.0, "duration": 3600.0}],
    })
    problem = CellProblem(load_mesh(case.geometry, MPI.COMM_WORLD), case)
    problem.set_control("current", -problem.capacity_C / 3600.0)
    for _ in range(2):
        assert problem.try_step(5.0).converged
        problem.accept()
    return problem


def block_times(problem: CellProblem, repeats: int) -> list[tuple[str, str, float]]:
    """(block, integral type, ms) of every nonzero Jacobian block, each integral type alone."""
    newton = problem._newton
    names, rows = newton._split_names, []
    for i, row in enumerate(derivative_block(newton._residuals, newton._unknowns)):
        for j, block in enumerate(row):
            if block is None:
                continue
            for itg_type, integrals in _by_type(block).items():
                form = fem.form(ufl.Form(integrals), entity_maps=newton._entity_maps)
                if not form._cpp_object.integral_types:
                    continue
                matrix = fem.create_matrix(form)

                def assemble(form=form, matrix=matrix) -> None:
                    matrix.set_value(0.0)
                    fem.assemble_matrix(matrix, form, constants=fem.pack_constants(form),
                                        coeffs=fem.pack_coefficients(form))

                rows.append((f"{names[i]}/{names[j]}", itg_type, 1e3 * least(assemble, repeats)))
    return rows


def _by_type(form: ufl.Form) -> dict[str, list]:
    out: dict[str, list] = {}
    for integral in form.integrals():
        out.setdefault(integral.integral_type(), []).append(integral)
    return out


def fused_against_blocked(problem: CellProblem, repeats: int) -> tuple[float, float]:
    """Least process times [s] of the SNES Jacobian and of DOLFINx's blocked assembly of the same forms
    into a matrix of its own, timed alternately."""
    nl = problem._newton._problem
    matrix = dolfinx.fem.petsc.create_matrix(nl.J)

    def blocked() -> None:
        matrix.zeroEntries()
        dolfinx.fem.petsc.assemble_matrix(matrix, nl.J)
        matrix.assemble()

    times = [(least(lambda: nl.solver.computeJacobian(nl.x, nl.A, nl.A), 1), least(blocked, 1)) for _ in range(repeats)]
    return min(t[0] for t in times), min(t[1] for t in times)


def sparsity(problem: CellProblem) -> dict[str, object]:
    """Dense rows and columns (over 10× the median row length) and the stored zeros of the global Jacobian."""
    nl = problem._newton._problem
    indptr, indices, values = nl.A.getValuesCSR()
    row_counts = np.diff(indptr)
    col_counts = np.bincount(indices, minlength=nl.A.getSize()[1])
    dense = 10 * np.median(row_counts)
    return {"rows": nl.A.getSize()[0], "nonzeros": int(indices.size), "stored zeros": int((values == 0.0).sum()),
            "dense rows (index: entries)": {int(r): int(row_counts[r]) for r in np.flatnonzero(row_counts > dense)},
            "dense columns (index: entries)": {int(c): int(col_counts[c]) for c in np.flatnonzero(col_counts > dense)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mesh", default="0.5:0.25", help="size:interface_size in µm")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--totals", action="store_true", help="only the whole Jacobian, fused against blocked")
    args = parser.parse_args()
    problem = problem_after_two_steps(*(float(v) for v in args.mesh.split(":")))
    nl, newton = problem._newton._problem, problem._newton
    fused, blocked = fused_against_blocked(problem, args.repeats)
    print(f"DOFs {problem.num_dofs}: Jacobian fused {1e3 * fused:.2f} ms, block by block {1e3 * blocked:.2f} ms, "
          f"residual {1e3 * least(lambda: nl.solver.computeFunction(nl.x, nl.b), args.repeats):.2f} ms")
    if args.totals:
        return
    print(f"blocks {newton._split_names}")
    for block, itg_type, ms in block_times(problem, args.repeats):
        print(f"  {block:24s} {itg_type:15s} {ms:8.3f} ms")
    if newton._fused is not None:
        coo = newton._fused._coo
        for part in coo.parts:
            kind = "fused group" if any(part is group for group in newton._fused._groups) else "block"
            print(f"  {kind} (kernel into its CSR) {1e3 * least(part.assemble, args.repeats):8.3f} ms")
        print(f"  all parts into the global matrix (COO) {1e3 * least(lambda: coo.set_values(nl.A), args.repeats):8.3f} ms")
    for key, value in sparsity(problem).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
