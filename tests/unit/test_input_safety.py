"""Hostile and careless input files and values (issue 9): bounded reading, safe YAML, bounded unit
parsing, finite values in physical ranges, plain names, sweep and comparison checks, clear messages.

Everything here is refused with one CaseError (or ValueError from the unit parser) naming the file
and the key, quickly and without reading more than a bounded amount.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.cases import CASE, write_yaml

from ecmx.solver.config import Geometry, case_from_dict, load_case
from ecmx.solver.config.safe_yaml import MAX_YAML_DEPTH, read_yaml
from ecmx.solver.config.studies import load_comparison, load_sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_YAML_BYTES, read_text_file
from ecmx.solver.units import to_si

# ---------------------------------------------------------------------------------------------
# Limited child process: time and memory of one `ecmx validate`, measured after the imports and the
# unit registry's set-up, with an address-space cap so that the unbounded behaviour of old code
# fails instead of swapping.

LIMITED_VALIDATE = r"""
import json, resource, sys, time
from ecmx.solver.cli import app
import ecmx.solver.config.studies
from ecmx.solver.units import registry
registry()
with open("/proc/self/status") as fh:
    vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + 1024**3, resource.RLIM_INFINITY))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    app(["validate", *sys.argv[1:]])
    code = 0
except SystemExit as exc:
    code = exc.code
except MemoryError:
    code = "MemoryError"
seconds = time.perf_counter() - start
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # KiB -> MiB
print(json.dumps({"code": code, "seconds": seconds, "growth_mb": growth}))
"""


def limited_validate(*args: str, cwd: Path) -> tuple[dict, str]:
    """(``{"code", "seconds", "growth_mb"}``, stderr) of ``ecmx validate ARGS`` in a capped child."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", LIMITED_VALIDATE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
sweep: {base: case.yaml, parameter: material.diffusivity, values: *i}
output: {directory: results/sweep-of-9-to-the-9-points-expanded-from-nested-aliases}
"""


def test_alias_bomb_sweep_is_refused_fast_and_small(case_dir):
    bomb = case_dir / "bomb.yaml"
    bomb.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 700  # 9^9 values from well under a kilobyte
    outcome, stderr = limited_validate("bomb.yaml", cwd=case_dir)
    assert outcome["code"] == 2, stderr
    assert outcome["seconds"] < 2.0
    assert outcome["growth_mb"] < 200
    assert str(bomb) in stderr and "expands to more than" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    "args",
    [
        ("case.yaml", "--set", "geometry.particle.radius=10**10**10 um"),
        ("tower.yaml",),
    ],
    ids=["set", "file"],
)
def test_power_tower_is_refused_fast(case_dir, args):
    write_yaml(case_dir / "tower.yaml", dict(CASE, geometry={"kind": "sphere-1d", "particle": {"radius": "10**10**10 um"}}))
    outcome, stderr = limited_validate(*args, cwd=case_dir)
    assert outcome["code"] == 2, stderr
    assert outcome["seconds"] < 2.0
    assert outcome["growth_mb"] < 200
    assert "key 'geometry.particle.radius'" in stderr and "chained powers" in stderr
    assert str(case_dir / args[0]) in stderr


# ---------------------------------------------------------------------------------------------
# files.py: only regular, bounded, UTF-8 files


def test_read_text_file_refuses_devices_fifos_directories(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # no writer: a blocking open would hang
    for path, kind in [(Path("/dev/zero"), "a device"), (fifo, "a named pipe"), (tmp_path, "a directory")]:
        with pytest.raises(CaseError, match=f"is {kind}") as info:
            read_text_file(path, key="sweep.base", what="sweep base", max_bytes=MAX_YAML_BYTES)
        assert info.value.file == path and info.value.key == "sweep.base"


def test_read_text_file_refuses_large_and_non_utf8_files(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2049)
    with pytest.raises(CaseError, match="2049 bytes: expected at most 2048 bytes"):
        read_text_file(big, key=None, what="case file", max_bytes=2048)
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes("name: x\n".encode("utf-16-le"))  # no BOM
    with pytest.raises(CaseError, match="NUL characters"):
        read_text_file(utf16, key=None, what="case file", max_bytes=2048)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(CaseError, match=r"not UTF-8 text \(byte 0xe9 at offset 9\)"):
        read_text_file(latin1, key=None, what="case file", max_bytes=2048)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffname: café\n".encode())
    assert read_text_file(bom, key=None, what="case file", max_bytes=2048) == "name: café\n"


def test_named_file_errors_name_the_naming_file_and_key(case_dir):
    err = _error(case_dir, "material=/dev/zero")
    assert err.file == case_dir / "case.yaml" and err.key == "material"
    assert "material file /dev/zero: is a device" in str(err)


# ---------------------------------------------------------------------------------------------
# The YAML loader: no duplicate keys, no tags, bounded depth and expansion


def _read(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "input.yaml"
    path.write_text(text)
    return read_yaml(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nprotocol: []\nname: b\n", "duplicate key 'name' (first given at line 1)"),
        ("geometry: {kind: sphere-1d, kind: mesh-file}\n", "duplicate key 'kind'"),
        ("x: !!python/object/apply:os.system ['touch PWNED']\n", "YAML tags are not allowed"),
        ("x: !!binary aGVsbG8=\n", "YAML tags are not allowed"),
        ("x: !custom 1\n", "YAML tags are not allowed"),
        ("x: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n", f"nested more than {MAX_YAML_DEPTH} levels"),
        ("x: " + "[" * 20000 + "]" * 20000 + "\n", f"nested more than {MAX_YAML_DEPTH} levels"),
        ("x: &a [1, *a]\n", "recursive alias"),
        ("".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 1}]\n" for i in range(3000)), "levels deep (through aliases)"),
        ("seed: " + "9" * 5000 + "\n", "an integer of 5000 characters"),
    ],
    ids=["duplicate", "duplicate-flow", "python-tag", "binary-tag", "local-tag", "depth", "deep", "recursive", "alias-chain",
         "huge-int"],
)
def test_yaml_loader_refuses(tmp_path, text, message):
    with pytest.raises(CaseError, match="refused YAML at line") as info:
        _read(tmp_path, text)
    assert message in str(info.value)
    assert info.value.file == tmp_path / "input.yaml"
    assert not (tmp_path / "PWNED").exists()


def test_yaml_loader_keeps_merges_and_modest_aliases(tmp_path):
    data = _read(tmp_path, "base: &b {a: 1, b: 2}\nother: {<<: *b, b: 3}\nlist: &l [1, 2]\nagain: *l\n")
    assert data["other"] == {"a": 1, "b": 3} and data["again"] == [1, 2]


def test_set_values_use_the_safe_loader(case_dir):
    err = _error(case_dir, "description=!!python/name:os.system")
    assert err.key == "description" and "YAML tags are not allowed" in str(err)
    assert err.file == case_dir / "case.yaml"
    err = _error(case_dir, "geometry={kind: sphere-1d, kind: mesh-file}")
    assert "duplicate key 'kind'" in str(err)


# ---------------------------------------------------------------------------------------------
# Unit strings: bounded language, finite results


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2**1024 um", "exponent 1024 is larger than 12"),
        ("1/0 um", "division by zero"),
        ("1" * 100 + " um", "a number with 100 digits"),
        ("1" * 400 + " um", "at most 200 are read"),
        ("(" * 50 + "1" + ")" * 50 + " um", "parentheses nested more than 4 deep"),
        ("()", "empty parentheses"),
        ("1 um ()", "empty parentheses"),
        ("(", "a '(' without its ')'"),
        ("x" * 300, "300 characters long"),
        ("1,5 um", "unexpected character ','"),
        ("(10)**2 um", "a power of a parenthesised group"),
        ("m^2.5", "expected a literal integer exponent"),
        ("1 m²²", "more than one superscript digit"),
        ("10³^12 um", "chained powers"),
        ("1e400 um", "expected a finite number"),
        ("1e300*1e300 um", "expected a finite number"),
        ("1e400", "expected a finite number"),
        ("inf", "expected a finite number"),
        ("nan", "expected a finite number"),
        (float("inf"), "expected a finite number"),
        (float("nan"), "expected a finite number"),
        (10**400, "too large for a float"),
    ],
)
def test_hostile_unit_strings_are_value_errors(text, message):
    with pytest.raises(ValueError, match="expected a") as info:
        to_si(text, "m")
    assert message in str(info.value)
    assert len(str(info.value)) < 300  # long inputs are shortened in messages


def test_ordinary_unit_strings_still_read():
    assert to_si("5e-11 cm^2/s", "m^2/s") == pytest.approx(5e-15)
    assert to_si("1e-3 m**2", "m^2") == pytest.approx(1e-3)
    assert to_si("2 s^-1", "1/s") == 2.0
    assert to_si("10^(-2) um", "m") == pytest.approx(1e-8)
    assert to_si("25 °C", "K") == pytest.approx(298.15)
    assert to_si("1 µm", "m") == pytest.approx(1e-6)
    assert to_si("3150 kg/m³", "kg/m^3") == pytest.approx(3150.0)


def test_no_assertion_failed_message(case_dir):
    err = _error(case_dir, "geometry.particle.radius=()")
    assert err.key == "geometry.particle.radius"
    assert "Assertion failed" not in str(err) and "empty parentheses" in str(err)


# ---------------------------------------------------------------------------------------------
# Finite values and physical ranges, with the key named


def _error(case_dir: Path, *overrides: str) -> CaseError:
    with pytest.raises(CaseError) as info:
        load_case(case_dir / "case.yaml", list(overrides))
    return info.value


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ("temperature=.inf", "temperature", "finite"),
        ("material.density=.inf", "material.density", "finite"),
        ("temperature=1e-3 K", "temperature", "greater than or equal to 150"),
        ("temperature=5000 K", "temperature", "less than or equal to 600"),
        ("protocol.0.until.voltage=.nan", "protocol.0.until.voltage", "finite"),
        ("material.chemical_expansion.volume_change=.nan", "material.chemical_expansion.volume_change", "finite"),
        ("material.youngs_modulus=.inf", "material.youngs_modulus", "finite"),
        ("solver.atol=.inf", "solver.atol", "finite"),
        ("protocol.0.c_rate=.inf", "protocol.0.c_rate", "finite"),
        ("protocol.0.c_rate=1e6", "protocol.0.c_rate", "less than or equal to 1000"),
        ("protocol.0.until.duration=.inf", "protocol.0.until.duration", "finite"),
        ("protocol.0.until.time=1e12 s", "protocol.0.until.time", "less than or equal to 1e+08 (in SI units), got '1e12 s'"),
        ("protocol=[{step: rest, duration: 1e12 s}]", "protocol.0.duration", "less than or equal to 1e+08 (in SI units), got '1e12 s'"),
        ("protocol=[{step: discharge, current: 1 MA, until: {voltage: 2 V}}]", "protocol.0.current", "less than or equal to 1000"),
        ("geometry.particle.radius=1e400", "geometry.particle.radius", "finite"),
        ("geometry.particle.radius=1 m", "geometry.particle.radius", "less than or equal to 0.001"),
        ("geometry.particle.radius=1e-12 m", "geometry.particle.radius", "greater than or equal to 1e-09"),
        ("geometry.mesh.elements=100000000", "geometry.mesh.elements", "less than or equal to 20000"),
        ("geometry.mesh.elements=1.0e+12", "geometry.mesh.elements", "less than or equal to 20000"),
        ("solver.time_step.max=.inf", "solver.time_step.max", "finite"),
        ("output.probes=[{name: p, point: [.nan, 0, 0]}]", "output.probes.0.point.0", "finite"),
        ("mechanics.seed=-1", "mechanics.seed", "greater than or equal to 0"),
    ],
)
def test_non_finite_and_out_of_range_values_name_the_key(case_dir, override, key, message):
    err = _error(case_dir, override)
    assert err.key == key, str(err)
    assert message in str(err)
    assert err.file == case_dir / "case.yaml"


def test_yaml_infinities_in_a_file_are_refused(case_dir):
    (case_dir / "inf.yaml").write_text(yaml.safe_dump(CASE) + "temperature: .inf\n")
    with pytest.raises(CaseError, match="finite") as info:
        load_case(case_dir / "inf.yaml")
    assert info.value.key == "temperature"


@pytest.mark.parametrize(
    "geometry",
    [
        {"kind": "particle-in-electrolyte", "mesh": {"size": "1 nm"}},
        {"kind": "particle-in-electrolyte", "electrolyte": {"thickness": "1 mm"}, "particle": {"radius": "10 nm"}},
        {"kind": "agglomerate", "mesh": {"interface_size": "5 nm"}},
        {"kind": "axisymmetric-2d", "mesh": {"size": "1 nm"}},
    ],
    ids=["3d-1nm", "huge-box", "agglomerate", "2d-1nm"],
)
def test_mesh_estimate_refuses_huge_meshes_before_gmsh(case_dir, geometry):
    err = _error(case_dir, f"geometry={json.dumps(geometry)}")
    assert err.key == "geometry" and "the mesh would have about" in str(err) and "expected at most 2e+06" in str(err)


def test_mesh_estimate_accepts_the_shipped_meshes():
    for geometry in [{}, {"mesh": {"size": 0.25e-6, "interface_size": 0.0625e-6}},
                     {"kind": "agglomerate", "agglomerate": {"count": 20}}, {"kind": "axisymmetric-2d"}]:
        assert Geometry.model_validate(geometry).estimated_cells() < 2e6


def test_mesh_estimate_is_close_to_gmsh(mesh_cache):
    from ecmx.meshes.cache import build_mesh

    geometry = Geometry.model_validate({"mesh": {"size": 0.6e-6, "interface_size": 0.25e-6}})
    cells = build_mesh(geometry, cache_dir=mesh_cache).info["cells"]
    assert 0.5 < geometry.estimated_cells() / cells < 2.0


def test_interface_size_larger_than_the_particle_is_refused(case_dir):
    err = _error(case_dir, "geometry={kind: particle-in-electrolyte, mesh: {size: 2 um, interface_size: 2 um}}")
    assert err.key == "geometry" and "larger than the particle radius" in str(err)


# ---------------------------------------------------------------------------------------------
# Names and paths


@pytest.mark.parametrize("name", ["../victim", "/abs/victim", "a/b", ".hidden", "a..b", "x" * 101, "", "spa ce"])
def test_case_name_must_be_plain(case_dir, name):
    write_yaml(case_dir / "named.yaml", dict(CASE, name=name))
    with pytest.raises(CaseError, match="expected a plain name") as info:
        load_case(case_dir / "named.yaml")
    assert info.value.key == "name"


def test_set_name_traversal_is_refused(case_dir):
    err = _error(case_dir, "name=../../x")
    assert err.key == "name" and "expected a plain name" in str(err)


def test_default_name_from_an_odd_file_name_is_plain(case_dir):
    data = {k: v for k, v in CASE.items() if k != "name"}
    write_yaml(case_dir / "my case (v2).yaml", data)
    assert load_case(case_dir / "my case (v2).yaml").name == "my_case__v2_"


def test_mesh_file_must_exist_and_be_regular(case_dir):
    err = _error(case_dir, "geometry={kind: mesh-file, file: missing.msh}")
    assert err.key == "geometry.file" and err.file == case_dir / "case.yaml"
    assert f"mesh file {case_dir / 'missing.msh'}: not found" in str(err)
    (case_dir / "dir.msh").mkdir()
    err = _error(case_dir, "geometry={kind: mesh-file, file: dir.msh}")
    assert "is a directory" in str(err)


def test_comparison_case_names_must_differ(case_dir):
    write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["case.yaml", "case.yaml"]}})
    with pytest.raises(CaseError, match="repeated: test-case") as info:
        load_comparison(case_dir / "cmp.yaml")
    assert info.value.key == "compare.cases" and str(case_dir / "case.yaml") in str(info.value)


def test_comparison_names_a_missing_case_by_its_key(case_dir):
    write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["case.yaml", "nope.yaml"]}})
    with pytest.raises(CaseError, match="nope.yaml: not found") as info:
        load_comparison(case_dir / "cmp.yaml")
    assert info.value.key == "compare.cases.1" and info.value.file == case_dir / "cmp.yaml"


@pytest.mark.parametrize(
    ("sweep", "key", "message"),
    [
        ({"parameter": "material.diffusivity", "values": []}, "sweep.values", "at least 1 item"),
        ({"parameters": [{"parameter": "material.diffusivity", "values": []}]}, "sweep.parameters.0.values", "at least 1 item"),
        ({"parameter": "material.diffusivity", "values": [1e-15, 1e-14, 1e-15]}, "sweep", "given more than once"),
        ({"parameter": "material.diffusivity", "values": {"linear_space": [1e-15, 1e-15], "num": 3}}, "sweep", "given more than once"),
        ({"parameters": [{"parameter": "material.diffusivity", "values": ["1 um", "1 um"]}]}, "sweep.parameters.0", "given more than once"),
        ({"parameters": [{"parameter": "material.diffusivity", "values": [1e-15]},
                         {"parameter": "material.diffusivity", "values": [1e-14]}]}, "sweep", "more than one axis"),
        ({"parameters": [{"parameter": "material.diffusivity", "values": list(range(1, 1001))},
                         {"parameter": "temperature", "values": list(range(1, 1001))}]}, "sweep", "1000000 points"),
    ],
    ids=["empty", "empty-axis", "duplicate", "duplicate-spacing", "duplicate-axis", "same-key", "too-many"],
)
def test_sweep_axes_are_non_empty_and_distinct(case_dir, sweep, key, message):
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "case.yaml", **sweep}})
    with pytest.raises(CaseError) as info:
        load_sweep(case_dir / "sweep.yaml")
    assert info.value.key == key and message in str(info.value)


def test_sweep_base_is_read_safely(case_dir):
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "/dev/zero", "parameter": "temperature", "values": [300]}})
    with pytest.raises(CaseError, match="sweep base /dev/zero: is a device") as info:
        load_sweep(case_dir / "sweep.yaml")
    assert info.value.key == "sweep.base" and info.value.file == case_dir / "sweep.yaml"


# ---------------------------------------------------------------------------------------------
# OCV tables named as files


def _with_ocv(case_dir: Path, value: str) -> None:
    material = yaml.safe_load((case_dir / "mat.yaml").read_text())
    material["open_circuit_voltage"] = value
    (case_dir / "materials").mkdir(exist_ok=True)
    write_yaml(case_dir / "materials" / "mat.yaml", material)
    write_yaml(case_dir / "case.yaml", dict(CASE, material="materials/mat.yaml"))


def test_ocv_path_of_any_extension_is_relative_to_the_naming_file(case_dir, monkeypatch):
    _with_ocv(case_dir, "ocv.txt")
    (case_dir / "materials" / "ocv.txt").write_text("stoichiometry,voltage\n0.3,3.9\n0.5,3.4\n1.0,2.4\n")
    monkeypatch.chdir(case_dir.parent)
    case = load_case(case_dir / "case.yaml")
    assert case.material.open_circuit_voltage.voltage == [3.9, 3.4, 2.4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "OCV table not found"),
        ("directory", "OCV table is a directory"),
        ("stoichiometry,voltage\n0.3,3.9\n0.5\n1.0,2.4\n", "line 3: expected 2 values, got 1"),
        ("stoichiometry,voltage\n0.3,3.9\n0.5,abc\n1.0,2.4\n", "line 3, column 'voltage': expected a finite number, got 'abc'"),
        ("stoichiometry,voltage\n0.3,3.9\n0.5,nan\n1.0,2.4\n", "line 3, column 'voltage': expected a finite number, got 'nan'"),
        ("theta,U\n0.3,3.9\n1.0,2.4\n", "expected a header line naming the columns stoichiometry, voltage"),
        ("stoichiometry,voltage\n0.3,3.9\n1.0,2.4\n".encode("utf-16"), "not UTF-8 text"),
    ],
    ids=["missing", "directory", "short-row", "non-numeric", "nan", "header", "utf16"],
)
def test_bad_ocv_tables_name_the_file_and_key(case_dir, content, message):
    _with_ocv(case_dir, "ocv.csv")
    table = case_dir / "materials" / "ocv.csv"
    if content == "directory":
        table.mkdir()
    elif isinstance(content, bytes):
        table.write_bytes(content)
    elif content is not None:
        table.write_text(content)
    err = _error(case_dir)
    assert err.key == "material.open_circuit_voltage" and err.file == case_dir / "case.yaml"
    assert str(table) in str(err) and message in str(err)


# ---------------------------------------------------------------------------------------------
# Messages


def test_source_path_is_not_a_key(case_dir):
    err = _error(case_dir, "nmae=x")
    assert "did you mean 'name'" in str(err) and "source_path" not in str(err).split("allowed here:")[1]
    data = dict(CASE, source_path="/somewhere")
    with pytest.raises(CaseError, match="unknown key") as info:
        case_from_dict(data, case_dir / "case.yaml")
    assert info.value.key == "source_path"


def test_unknown_library_entry_hints_list_the_right_kind(case_dir):
    electrolyte = str(_error(case_dir, "electrolyte=seawater"))
    assert "unknown library entry 'seawater': expected one of naclo4-ec-pc or" in electrolyte
    material = str(_error(case_dir, "material=unobtainium"))
    assert "nvp" in material and "naclo4-ec-pc" not in material


def test_a_text_read_again_is_parsed_once_and_each_reader_gets_its_own_copy(tmp_path, monkeypatch):
    """A comparison re-reads its case and library files per variant: the same text is parsed once, and a
    caller that changes what it got does not change what the next reader gets."""
    from ecmx.solver.config import safe_yaml

    parses = []
    monkeypatch.setattr(safe_yaml, "_parse", lambda text: parses.append(text) or yaml.load(text, Loader=safe_yaml.SafeYAMLLoader))
    safe_yaml._parsed.cache_clear()
    text = "base: &b {a: 1, b: [1, 2]}\nother: *b\n"
    first = _read(tmp_path, text)
    first["base"]["b"].append(3)
    first["new"] = 1
    second = _read(tmp_path, text)
    assert second == {"base": {"a": 1, "b": [1, 2]}, "other": {"a": 1, "b": [1, 2]}}
    assert second["base"] is second["other"]  # an alias is still one object, as PyYAML makes it
    assert len(parses) == 1
    safe_yaml._parsed.cache_clear()


def test_refused_yaml_is_refused_again_when_read_again(tmp_path):
    for _ in range(2):
        with pytest.raises(CaseError, match="duplicate key"):
            _read(tmp_path, "a: 1\na: 2\n")
