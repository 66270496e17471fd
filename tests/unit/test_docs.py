"""The user documentation and the help verbs: docs generated from the schema stay in step with it,
links resolve, nothing shipped cites an unshipped document; `ecmx schema`, `ecmx materials` and
`ecmx cases` end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner, Result

from ecmx.solver.cli import app
from ecmx.solver.config.docgen import FILE_KINDS, file_keys, find_keys, markdown, normalise_key
from ecmx.solver.config.editor_schema import editor_schema
from ecmx.solver.errors import CaseError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ECMX = [sys.executable, "-m", "ecmx.solver.cli"]


def run_cli(*args: str) -> Result:
    """An ecmx verb in this process (stdout and stderr apart, the exit status as ``returncode``)."""
    result = CliRunner().invoke(app, list(args))
    result.returncode = result.exit_code
    return result


def test_schema_verb_end_to_end_in_a_process():
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    result = subprocess.run([*ECMX, "schema", "material.chemical_expansion.partial_molar_volume"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "partial molar volume" in result.stdout and "unit: m^3/mol" in result.stdout


def test_case_keys_md_is_generated_from_the_schema():
    """docs/case-keys.md is the generator's output: regenerate it after changing the schema
    (python -m ecmx.solver.config.docgen > docs/case-keys.md)."""
    assert (DOCS / "case-keys.md").read_text(encoding="utf-8") == markdown()


@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_every_schema_key_is_documented_with_a_description(kind):
    text = (DOCS / "case-keys.md").read_text(encoding="utf-8")
    keys = file_keys(kind)
    assert len(keys) > 5
    assert [k.path for k in keys if not k.description] == []
    assert [k.path for k in keys if f"| `{k.path}` |" not in text] == []


def test_dimensional_keys_carry_their_si_unit():
    units = {k.path: k.unit for k in file_keys("case")}
    assert units["material.diffusivity"] == "m^2/s"
    assert units["solver.time_step.max"] == "s"
    assert units["geometry.particle.radius"] == "m"
    assert units["temperature"] == "K"
    assert units["protocol[].until.voltage"] == "V"
    assert units["material.diffusivity.value"] == "m^2/s"  # inside a table
    assert units["geometry.particle.semi_axes"] == "m"  # inside a tuple
    assert units["material.poissons_ratio"] == ""


def test_keys_by_index_or_list_path():
    assert normalise_key("protocol.0.c_rate") == "protocol[].c_rate"
    assert [k.path for k in find_keys("protocol.c_rate")] == ["protocol[].c_rate"]
    assert find_keys("protocol.2.until.voltage")[0].path == "protocol[].until.voltage"
    with pytest.raises(CaseError, match="did you mean material.diffusivity"):
        find_keys("material.difusivity")


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    broken = []
    for link in _links(path):
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        target = (path.parent / link.split("#", 1)[0]).resolve()
        if not target.exists():
            broken.append(link)
    assert broken == []


def test_readme_links_into_docs():
    links = set(_links(ROOT / "README.md"))
    for name in ("docs/model.md", "docs/case-format.md", "docs/case-keys.md", "docs/outputs.md", "docs/tutorial.md",
                 "docs/cluster.md"):
        assert name in links


SHIPPED = ["README.md", "docs", "cases", "solver", "postprocess", "meshes"]
UNSHIPPED = re.compile(r"MODEL\.md|CASE_FORMAT\.md|ARCHITECTURE\.md|DOLFINX_NOTES\.md|\.\./shared|/work/shared")


def test_nothing_shipped_cites_an_unshipped_document():
    cited = []
    for top in SHIPPED:
        base = ROOT / top
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        for path in files:
            if path.suffix in (".pyc", ".png", ".pdf", ".svg", ".msh"):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            cited += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in UNSHIPPED.finditer(text)]
    assert cited == []


def test_schema_verb_prints_a_key_and_the_tree():
    one = run_cli("schema", "solver.time_step.max")
    assert one.returncode == 0, one.stderr
    assert "optional cap on the time step" in one.stdout and "unit: s" in one.stdout and "default: none" in one.stdout
    tree = run_cli("schema", "--kind", "sweep")
    assert tree.returncode == 0 and "log_space" in tree.stdout and "workers" in tree.stdout
    bad = run_cli("schema", "geometry.particle.raduis")
    assert bad.returncode == 2 and "did you mean geometry.particle.radius" in bad.stderr and bad.stdout == ""


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as editors read it (YAML 1.2 numbers: ``1e-17`` is a float, not a string)."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"), list("-+0123456789."))


def _example(name: str) -> dict:
    return yaml.load((ROOT / "cases" / name).read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506


def test_schema_json_validates_the_shipped_files_and_refuses_a_typo():
    result = run_cli("schema", "--json")
    assert result.returncode == 0, result.stderr
    case_schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(case_schema)
    validators = {kind: jsonschema.Draft202012Validator(editor_schema(kind)) for kind in FILE_KINDS}
    assert case_schema == editor_schema("case")
    for path in sorted((ROOT / "cases").glob("*.yaml")):
        data = _example(path.name)
        kind = "sweep" if "sweep" in data else "compare" if "compare" in data else "case"
        errors = [e.message for e in validators[kind].iter_errors(data)]
        assert errors == [], path.name
    typo = dict(_example("nvp.yaml"), temprature=300)
    assert not validators["case"].is_valid(typo)
    inline = dict(_example("nvp.yaml"), material={"base": "nvp", "chemical_expansion": {"partial_molar_volume": 3e-6}})
    assert validators["case"].is_valid(inline)
    assert not validators["case"].is_valid(dict(inline, geometry={"particle": {"radius": [1]}}))


def test_materials_verb_lists_the_library_and_shows_one_entry():
    listing = run_cli("materials")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["nvp"])
    assert "117.6 mAh/g" in lines[at] and "0.25–0.75" in lines[at] and "1e-15 m²/s" in lines[at]
    assert lines[at + 1].split() == ["sources:", "13", "values", "with", "a", "source;", "doi:10.1039/d5ee00877h"]
    assert "naclo4-ec-pc" in listing.stdout
    one = run_cli("materials", "hev")
    assert one.returncode == 0 and "sources:" in one.stdout and "youngs_modulus:" in one.stdout
    unknown = run_cli("materials", "unobtainium")
    assert unknown.returncode == 2 and "unknown library entry 'unobtainium'" in unknown.stderr


def test_cases_verb_copies_without_overwriting(tmp_path):
    target = tmp_path / "examples"
    target.mkdir()
    (target / "nvp.yaml").write_text("mine\n")
    (tmp_path / "victim").write_text("keep\n")
    (target / "hev.yaml").symlink_to(tmp_path / "victim")
    result = run_cli("cases", str(target))
    assert result.returncode == 0, result.stderr
    shipped = sorted(p.name for p in (ROOT / "cases").glob("*.yaml"))
    assert sorted(p.name for p in target.iterdir()) == shipped
    assert (target / "nvp.yaml").read_text() == "mine\n" and (tmp_path / "victim").read_text() == "keep\n"
    assert "left 2 existing file(s)" in result.stdout
    assert (target / "nvp-vs-hev.yaml").read_bytes() == (ROOT / "cases" / "nvp-vs-hev.yaml").read_bytes()


def test_outputs_md_lists_every_column_ecmx_writes():
    from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS
    from ecmx.postprocess.sweep_summary import FIXED_COLUMNS, SPREAD_PREFIX
    from ecmx.postprocess.tables import COLUMN_TITLES, RATIO_COLUMNS
    from ecmx.solver.studies.impedance import COLUMNS as IMPEDANCE_COLUMNS

    text = (DOCS / "outputs.md").read_text(encoding="utf-8")
    columns = {*TIMESERIES_COLUMNS, *PROBE_COLUMNS, *COLUMN_TITLES, *RATIO_COLUMNS, *FIXED_COLUMNS, SPREAD_PREFIX,
               *IMPEDANCE_COLUMNS}
    assert sorted(c for c in columns if f"`{c}" not in text) == []


def _yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_tutorial_case_example_validates(tmp_path):
    from ecmx.solver.config.case import load_case

    cases = [block for block in _yaml_blocks(DOCS / "tutorial.md") if block.startswith("name:")]
    assert cases
    for i, block in enumerate(cases):
        (tmp_path / f"case{i}.yaml").write_text(block, encoding="utf-8")
        case = load_case(tmp_path / f"case{i}.yaml")
        assert case.material.chemical_expansion.partial_molar_volume == pytest.approx(3e-6)


def test_key_rows_state_type_default_and_allowed_values():
    keys = {k.path: k for k in file_keys("case")}
    assert (keys["mechanics.degree"].type, keys["mechanics.degree"].default, keys["mechanics.degree"].allowed) == \
        ("integer", "2", "1, 2")
    assert keys["geometry.kind"].allowed == "sphere-1d, axisymmetric-2d, particle-in-electrolyte, agglomerate, mesh-file"
    assert (keys["temperature"].default, keys["temperature"].allowed) == ("298.15", "≥ 150 and ≤ 600")
    assert keys["material.diffusivity"].type == "number or section" and keys["material.density"].default == "required"
    assert keys["name"].default == "the case file's stem" and keys["electrolyte"].default == "naclo4-ec-pc"
    assert keys["output.probes"].type == "list of sections" and "output.probes[].point" in keys
