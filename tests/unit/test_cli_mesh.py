"""`ecmx mesh CASE` writes the .msh (cached) and prints cells, vertices, quality, volume and area."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

from support.cases import CASE, write_yaml


def test_ecmx_mesh_prints_report(case_dir):
    write_yaml(case_dir / "sphere.yaml", dict(CASE, geometry={"kind": "axisymmetric-2d", "particle": {"radius": "1 um"}}))
    env = dict(os.environ, ECMX_CACHE_DIR=str(case_dir / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "ecmx.solver.cli", "mesh", "sphere.yaml"],
        cwd=case_dir, capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    values = dict(re.findall(r"^([a-z ]+):\s+(\S+)", result.stdout, flags=re.M))
    assert int(values["cells"]) > 100 and int(values["vertices"]) > 50
    assert 0.3 < float(values["minimum quality"]) <= 1.0
    assert math.isclose(float(values["particle volume"]), 4 / 3 * math.pi * 1e-18, rel_tol=0.01)
    assert math.isclose(float(values["interface area"]), 4 * math.pi * 1e-12, rel_tol=0.01)
    assert list((case_dir / "cache" / "meshes").glob("*.msh"))
