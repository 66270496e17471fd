"""`ecmx validate` on bad input: one clear message (file, key, expectation), exit 2, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cases import CASE, write_yaml

ECMX = [sys.executable, "-m", "ecmx.solver.cli"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([*ECMX, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


BAD_CASES = {
    "malformed": ("geometry: {kind: sphere-1d\nprotocol: [", None, "malformed YAML at line"),
    "unknown-key": (dict(CASE, geometry={"kind": "sphere-1d", "partcle": {"radius": "1 um"}}), "geometry.partcle", "did you mean 'particle'"),
    "wrong-dimension": (dict(CASE, geometry={"kind": "sphere-1d", "particle": {"radius": "3 s"}}), "geometry.particle.radius", "expected a quantity in m"),
    "negative-diffusivity": (dict(CASE, material={"base": "mat.yaml", "diffusivity": -1e-15}), "material.diffusivity", "greater than 0"),
    "missing-material": (dict(CASE, material="no-such-material.yaml"), "material", "no-such-material.yaml: not found"),
    "no-end-condition": (dict(CASE, protocol=[{"step": "discharge", "c_rate": 1}]), "protocol.0", "no end condition"),
    "utf16": ("name: x\n".encode("utf-16-le"), None, "NUL characters"),
    "latin1": ("description: caf\xe9\n".encode("latin-1"), None, "not UTF-8 text"),
    "duplicate-key": ("name: a\nname: b\n", None, "duplicate key 'name'"),
    "name-traversal": (dict(CASE, name="../victim"), "name", "expected a plain name"),
    "inf-temperature": (dict(CASE, temperature=float("inf")), "temperature", "finite"),
    "unit-division-by-zero": (dict(CASE, geometry={"kind": "sphere-1d", "particle": {"radius": "1/0 um"}}),
                              "geometry.particle.radius", "division by zero"),
    "huge-mesh": (dict(CASE, geometry={"kind": "particle-in-electrolyte", "mesh": {"size": "1 nm"}}), "geometry",
                  "the mesh would have about"),
    "missing-mesh-file": (dict(CASE, geometry={"kind": "mesh-file", "file": "missing.msh"}), "geometry.file", "not found"),
    "missing-ocv-table": (dict(CASE, material={"base": "mat.yaml", "open_circuit_voltage": "ocv.dat"}),
                          "material.open_circuit_voltage", "ocv.dat: OCV table not found"),
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_validate_bad_case(case_dir, name):
    content, key, expected = BAD_CASES[name]
    bad = case_dir / f"{name}.yaml"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif isinstance(content, str):
        bad.write_text(content)
    else:
        write_yaml(bad, content)
    before = sorted(p.name for p in case_dir.rglob("*"))
    result = run_cli("validate", bad.name, cwd=case_dir)
    assert result.returncode == 2, result.stderr
    message = result.stderr
    assert "Traceback" not in message and "Traceback" not in result.stdout
    assert message.count("error:") == 1
    assert str(bad) in message.replace("\n", "")
    if key is not None:
        assert f"key '{key}'" in message
    assert expected in message
    assert "Assertion failed" not in message
    assert sorted(p.name for p in case_dir.rglob("*")) == before  # nothing written


def test_validate_refuses_a_device_without_reading_it(case_dir):
    result = run_cli("validate", "/dev/zero", cwd=case_dir)
    assert result.returncode == 2
    assert "error: /dev/zero: input file is a device: expected a regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_applies_set_to_every_point_of_a_sweep(case_dir):
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": [1e-15]}})
    assert run_cli("validate", "sweep.yaml", "--set", "temperature=300 K", cwd=case_dir).returncode == 0
    result = run_cli("validate", "sweep.yaml", "--set", "temperature=-3 K", cwd=case_dir)
    assert result.returncode == 2 and result.stderr.count("error:") == 1
    assert str(case_dir / "sweep.yaml") in result.stderr.replace("\n", "") and "temperature" in result.stderr


def test_validate_good_case(case_dir):
    result = run_cli("validate", "case.yaml", cwd=case_dir)
    assert result.returncode == 0, result.stderr
    assert "valid case 'test-case'" in result.stdout


def test_run_refuses_bad_case_before_solving(case_dir):
    write_yaml(case_dir / "bad.yaml", dict(CASE, temperature="-5 m"))
    result = run_cli("run", "bad.yaml", cwd=case_dir)
    assert result.returncode == 2
    assert "key 'temperature'" in result.stderr
    assert not (case_dir / "results").exists()


def test_version():
    result = run_cli("--version", cwd=Path.cwd())
    assert result.returncode == 0 and result.stdout.startswith("ecmx ")


# -- `ecmx run`: output directories and probes (issue 9) ---------------------------------------------

def assert_one_error(result: subprocess.CompletedProcess, status: int = 2) -> str:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.count("error:") == 1
    return result.stderr


def test_run_out_root_is_refused(case_dir):
    before = sorted(p.name for p in case_dir.rglob("*"))
    message = assert_one_error(run_cli("run", "case.yaml", "--out", "/", "--no-progress", cwd=case_dir))
    assert "refusing to write results to /: it is the root of the file system" in message
    assert sorted(p.name for p in case_dir.rglob("*")) == before


def test_run_out_parent_overwrite_is_refused_at_once(case_dir):
    """`--out .. --overwrite` is refused before the mesh and the solve (it used to fail after the
    whole run and strand the results in `...partial`)."""
    work = case_dir / "work"
    work.mkdir()
    before = sorted(p.name for p in case_dir.parent.iterdir())
    result = run_cli("run", "../case.yaml", "--out", "..", "--overwrite", "--no-progress", cwd=work)
    message = assert_one_error(result)
    assert "it is the working directory or one of its parents" in message
    assert sorted(p.name for p in case_dir.parent.iterdir()) == before
    assert sorted(p.name for p in case_dir.iterdir()) == ["case.yaml", "electrolyte.yaml", "mat.yaml", "work"]


def test_run_probe_outside_the_mesh_is_refused(case_dir):
    probes = [{"name": "centre", "point": [0, 0, 0]}, {"name": "outside", "point": ["3 um", 0, 0]}]
    write_yaml(case_dir / "probes.yaml", dict(CASE, output={"probes": probes}))
    message = assert_one_error(run_cli("run", "probes.yaml", "--out", "out", "--no-progress", cwd=case_dir))
    assert "key 'output.probes.1.point'" in message and "lies outside the mesh" in message
    assert not (case_dir / "out").exists() and not (case_dir / "out.partial").exists()
