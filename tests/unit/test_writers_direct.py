"""Field files: first-order Lagrange fields on the written mesh are copied, not interpolated.

Every ``dolfinx.fem.Expression`` is a compiled module loaded at start-up (22 of them for a sphere-1d
run with mechanics) and an interpolation at every write; a P1 field on the grid's own P1 nodes needs
neither: its values are the nodal values.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
from mpi4py import MPI

from ecmx.postprocess import writers


def _functions(mesh: dolfinx.mesh.Mesh) -> dict[str, dolfinx.fem.Function]:
    scalar = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1)))
    scalar.interpolate(lambda x: 1000.0 + 3.0 * x[0] ** 2 + x[1])
    stress = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 1, (3, 3))))
    stress.interpolate(lambda x: np.vstack([x[0] * (k + 1) - x[1] for k in range(9)]))
    dg = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("DG", 1)))
    dg.interpolate(lambda x: np.sin(3 * x[0]) + x[1])
    return {"particle_concentration": scalar, "stress": stress, "von_mises": dg}


def test_p1_fields_are_copied_and_equal_the_interpolated_values(tmp_path, monkeypatch) -> None:
    mesh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 4, 3)
    functions = _functions(mesh)
    compiled = []
    real_expression = dolfinx.fem.Expression

    def counting(expr, points, *args, **kwargs):
        compiled.append(expr)
        return real_expression(expr, points, *args, **kwargs)

    monkeypatch.setattr(dolfinx.fem, "Expression", counting)
    series = writers.FieldSeries(MPI.COMM_SELF, tmp_path / "p.xdmf", functions, c_max=2000.0, length_unit=1e-6)
    assert len(compiled) == 1  # only the DG1 field is interpolated onto the P1 nodes
    grid_space = series.grid.space
    for output in series.outputs:
        values = output.values()
        reference = []
        components = [()] if not output.shape else list(np.ndindex(*output.shape))
        for c in components:
            work = dolfinx.fem.Function(grid_space)
            work.interpolate(real_expression(output.source if c == () else output.source[c],
                                             grid_space.element.interpolation_points))
            reference.append(work.x.array[: series.grid.num_points])
        expected = writers._vtk_components(np.stack(reference, axis=1) * output.scale, output.shape)
        np.testing.assert_allclose(values, expected, rtol=1e-14, atol=0.0, err_msg=output.name)
    series.close()
