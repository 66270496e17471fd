"""The comparison's start-up and read-back do no work twice (issue 14): the sensitivity variants are
planned and validated once, and run directories' ``case.yaml`` are read with libyaml's safe loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.fake_runs import fake_case, write_fake_run

from ecmx.postprocess import rundata
from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies import compare

CASES = Path(__file__).resolve().parents[2] / "cases"


def test_comparison_json_is_written_from_the_plan_already_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``record_comparison`` takes the sensitivity plan the comparison made (16 validated variants)
    instead of making it again."""
    study = load_comparison(CASES / "nvp-vs-hev.yaml")
    extra, manifest = compare.sensitivity_plan(study)
    planned = [*compare.comparison_runs(study), *extra]

    def again(_study: object) -> None:
        raise AssertionError("the sensitivity study was planned a second time")

    monkeypatch.setattr(compare, "sensitivity_plan", again)
    compare.record_comparison(study, tmp_path, planned, manifest)
    written = json.loads((tmp_path / compare.RECORD_FILE).read_text())
    assert written["sensitivity"]["points"] == json.loads(json.dumps(manifest["points"], default=str))
    assert len(written["sensitivity"]["runs"]) == 16 and [c["name"] for c in written["cases"]] == [
        "nvp", "hev", "nvp-two-way", "hev-two-way"]


def test_run_directories_are_read_with_the_c_safe_loader(tmp_path: Path) -> None:
    """libyaml's safe loader (where installed) reads the same case as PyYAML's Python one."""
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    assert rundata.SAFE_LOADER is yaml.CSafeLoader
    directory = write_fake_run(tmp_path / "nvp", fake_case("nvp", "sphere-1d"))
    run = rundata.load_run(directory)
    expected = yaml.safe_load((directory / "case.yaml").read_text())
    assert yaml.load((directory / "case.yaml").read_text(), Loader=rundata.SAFE_LOADER) == expected
    assert run.case.name == expected["name"] and run.case.material.name == expected["material"]["name"]


def test_workers_start_while_the_comparison_file_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ecmx compare`` starts its worker processes before it validates (they import the solver
    meanwhile); a bad file still exits 2 with nothing written and no worker left."""
    import multiprocessing

    from typer.testing import CliRunner

    from ecmx.solver.cli import app
    from ecmx.solver.config import studies
    from ecmx.solver.errors import CaseError

    seen = []

    def refuse(path: Path, overrides: list[str]) -> None:
        seen.append(len(multiprocessing.active_children()))
        raise CaseError("expected a mapping", file=path, key="compare")

    monkeypatch.setattr(studies, "load_comparison", refuse)
    for name in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "cmp.yaml").write_text("compare: 1\n")
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "cmp.yaml"), "--workers", "2", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert seen == [2]  # both workers were started before the validation
    assert multiprocessing.active_children() == [] and not (tmp_path / "out").exists()


def test_planning_the_comparison_needs_no_unit_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``compare.specific_current: 100 mA/g`` (the sensitivity's current point) converts without pint:
    building its registry cost the parent 0.5-0.8 s of CPU before the first run could start."""
    from ecmx.solver import units

    def built() -> None:
        raise AssertionError("pint's unit registry was built")

    monkeypatch.setattr(units, "registry", built)
    study = load_comparison(CASES / "nvp-vs-hev.yaml")
    extra, _ = compare.sensitivity_plan(study)
    assert len(extra) == 16
    assert units.to_si("100 mA/g", "A/kg") == 100.0 and units.to_si("0.1 A/g", "A/kg") == 100.0


def _preparation(monkeypatch: pytest.MonkeyPatch, main: object) -> dict:
    """What a worker spawned inside ``main_not_reimported`` is told to import as its main module."""
    import multiprocessing.spawn
    import sys

    from ecmx.solver.studies.workers import main_not_reimported

    monkeypatch.setitem(sys.modules, "__main__", main)
    with main_not_reimported():
        data = multiprocessing.spawn.get_preparation_data("worker")
    return {k: v for k, v in data.items() if k.startswith("init_main")}


def test_spawned_workers_do_not_import_the_command_line_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Under ``ecmx`` (its console script, or ``python -m ecmx.solver.cli``) a worker does not import
    the CLI (typer, rich) again; a user's own script stays the workers' main module; nothing of the
    parent's main module changes after the block."""
    import types

    from ecmx.solver import cli

    script = types.ModuleType("__main__")
    script.__file__, script.__spec__, script.main = str(tmp_path / "ecmx"), None, cli.main
    assert _preparation(monkeypatch, script) == {}
    assert script.__file__ == str(tmp_path / "ecmx") and script.main is cli.main
    as_module = types.ModuleType("__main__")
    as_module.__spec__ = types.SimpleNamespace(name="ecmx.solver.cli")
    as_module.__file__ = cli.__file__
    assert _preparation(monkeypatch, as_module) == {}
    assert as_module.__spec__.name == "ecmx.solver.cli" and as_module.__file__ == cli.__file__
    user = types.ModuleType("__main__")
    user.__file__, user.__spec__ = str(tmp_path / "study.py"), None
    assert _preparation(monkeypatch, user) == {"init_main_from_path": str(tmp_path / "study.py")}
