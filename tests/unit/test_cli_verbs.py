"""One CLI: the same options on every verb that runs, ``-v`` before or after the verb, named
arguments in the usage lines, ``--set``/``--out`` on sweeps and comparisons (studies stubbed out)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from support.cases import write_yaml
from typer.testing import CliRunner

import ecmx.solver.studies.compare as compare_module
import ecmx.solver.studies.sweep as sweep_module
from ecmx.solver.cli import app
from ecmx.solver.config.studies import load_comparison, load_sweep

RUNNING = {"run": "CASE_FILE", "sweep": "SWEEP_FILE", "compare": "COMPARISON_FILE"}
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize(("verb", "argument"), [*RUNNING.items(), ("validate", "FILE"), ("mesh", "CASE_FILE"),
                                                ("report", "RESULTS_DIR")])
def test_usage_names_the_argument(verb: str, argument: str) -> None:
    text = _plain(_invoke(verb, "--help").output)
    assert f"ecmx {verb} [OPTIONS] {argument}" in text and "{file}" not in text
    assert "--verbose" in text and "-v" in text
    if verb in RUNNING:
        for option in ("--out", "--set", "--progress", "--no-progress"):
            assert option in text, (verb, option)
        assert "--overwrite" in text
    described = {"run": "Case file", "sweep": "Sweep file", "compare": "Comparison file"}.get(verb)
    if described:
        assert described in text and "YAML case file" not in text


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_verb(case_dir: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case_dir)
    logging.getLogger("ecmx").setLevel(logging.WARNING)
    args = ["-v", "validate", "case.yaml"] if where == "before" else ["validate", "case.yaml", "-v"]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert logging.getLogger("ecmx").level == logging.INFO


def test_set_applies_to_every_sweep_point_and_the_swept_value_wins(case_dir: Path) -> None:
    spec = {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": [1e-15, 1e-14]}}
    sweep = load_sweep(write_yaml(case_dir / "sweep.yaml", spec), ["temperature=310 K", "material.diffusivity=1e-9"])
    assert [p.case.temperature for p in sweep.points] == [pytest.approx(310.0)] * 2
    assert [p.case.material.diffusivity for p in sweep.points] == pytest.approx([1e-15, 1e-14])


def test_set_applies_to_every_compared_case(case_dir: Path) -> None:
    write_yaml(case_dir / "b.yaml", {**yaml_case(case_dir), "name": "other"})
    path = write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["case.yaml", "b.yaml"], "set": ["temperature=300 K"]}})
    comparison = load_comparison(path, ["temperature=320 K"])
    assert [c.temperature for c in comparison.cases] == [pytest.approx(320.0)] * 2


def yaml_case(case_dir: Path) -> dict:
    import yaml

    return yaml.safe_load((case_dir / "case.yaml").read_text())


def test_sweep_and_compare_take_out_set_and_progress(case_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The options reach the study (the studies themselves are stubbed: tested elsewhere)."""
    seen: dict = {}

    class Done:
        def __init__(self, directory: Path):
            self.directory = directory
            self.summary_path = directory / "summary.csv"
            self.failed: list = []
            self.points: list = []

    def fake_comparison(study, workers=None, overwrite=False, progress=True, prestarted=None):
        seen["compare"] = (study.directory, [c.temperature for c in study.cases], progress, overwrite)
        return Done(study.directory)

    def fake_sweep(study, workers=None, force=False, mpi=False, ranks_per_point=1, progress=True):
        seen["sweep"] = (study.directory, [p.case.temperature for p in study.points], progress, force)
        return Done(study.directory)

    monkeypatch.setattr(compare_module, "run_comparison", fake_comparison)
    monkeypatch.setattr(sweep_module, "run_sweep", fake_sweep)
    monkeypatch.chdir(case_dir)
    write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["case.yaml"]}})
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity",
                                                   "values": [1e-15]}})
    result = _invoke("compare", "cmp.yaml", "--out", "elsewhere", "--set", "temperature=305 K", "--no-progress",
                     "--overwrite", "-v")
    assert result.exit_code == 0, result.output
    assert seen["compare"] == (Path("elsewhere"), [pytest.approx(305.0)], False, True)
    result = _invoke("sweep", "sweep.yaml", "--out", "sw", "--set", "temperature=306 K", "--no-progress",
                     "--overwrite")
    assert result.exit_code == 0, result.output
    assert seen["sweep"] == (Path("sw"), [pytest.approx(306.0)], False, True)


def test_point_and_collect_together_are_refused(case_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case_dir)
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity",
                                                   "values": [1e-15]}})
    result = _invoke("sweep", "sweep.yaml", "--point", "0", "--collect")
    assert result.exit_code == 2 and "give one of them" in result.output
    result = _invoke("sweep", "sweep.yaml", "--point", "0", "--mpi")
    assert result.exit_code == 2 and "leave out --mpi" in _plain(result.output)


def test_run_resume_refusals(case_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case_dir)
    result = _invoke("run", "case.yaml", "--out", "res", "--resume")
    assert result.exit_code == 2 and "nothing to resume: no unfinished run in" in _plain(result.output)
    assert not (case_dir / "res").exists() and not (case_dir / "res.partial").exists()
    result = _invoke("run", "case.yaml", "--resume", "--overwrite")
    assert result.exit_code == 2 and "give one of them" in _plain(result.output)


@pytest.mark.parametrize("argv", [["ecmx", "--help"], ["ecmx", "compare", "no-such-file.yaml"]])
def test_the_command_freezes_its_objects_before_the_interpreter_ends(monkeypatch, argv):
    """The last garbage collections of a finished command are skipped (gc.freeze: the process exits
    next), whether the command succeeded or not."""
    import gc
    import sys

    from ecmx.solver import cli

    monkeypatch.setattr(sys, "argv", argv)
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit):
            cli.main()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
