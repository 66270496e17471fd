"""A run's results directory under hostile or unlucky conditions (issue 9).

Protected and foreign output directories, `.partial` directories that are not ecmx's, a second run
on a locked directory, run-time I/O failures, Ctrl-C, the step-count and field-volume guards and
probes outside the mesh. Runs use the fake 0D problem (tests/support/fakes.py) so that each takes about a
second; the CLI is started as a subprocess only where its exit status is the point.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cases import ELECTROLYTE, MATERIAL
from support.fakes import FakeCellProblem
from support.signals import default_sigint

from ecmx.postprocess.xdmf import read_xdmf
from ecmx.solver.cli import INTERRUPTED, user_errors
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.errors import CaseError, OutputError, SolveError
from ecmx.solver.studies.outdir import MARKER, DirectoryInUse, DirectoryLock, locked_by
from ecmx.solver.studies.run import run_case, run_problem

ECMX = [sys.executable, "-m", "ecmx.solver.cli"]


def make_case(**extra):
    data = {"name": "safety", "material": MATERIAL, "electrolyte": ELECTROLYTE,
            "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
            "protocol": [{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}}],
            "mechanics": {"enabled": False}, "output": {"snapshots": {"depth_of_discharge": [0.1]}}}
    data.update(extra)
    return case_from_dict(data)


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary(directory: Path) -> dict:
    return json.loads((directory / "summary.json").read_text())


class StepHook(FakeCellProblem):
    """Calls ``hook(step)`` after the given accepted steps."""

    def __init__(self, case, hook, at, **kwargs):
        super().__init__(case, **kwargs)
        self.hook, self.at, self.accepted = hook, set(at), 0

    def accept(self):
        super().accept()
        self.accepted += 1
        if self.accepted in self.at:
            self.hook(self.accepted)


# -- where a run may write ---------------------------------------------------------------------------

@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """cwd = <tmp>/project/work, HOME = <tmp>/home; the case file lives in <tmp>/project/cases."""
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    (tmp_path / "project" / "cases").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize(("out", "reason"), [
    ("/", "root of the file system"),
    (".", "working directory"),
    ("..", "working directory or one of its parents"),
    ("~", "home directory"),
    ("../cases", "holds the case file"),
])
def test_protected_directories_are_refused_before_the_mesh(workdir, monkeypatch, out, reason):
    """`--out / `, `--out .. --overwrite` and friends: refused at once, nothing built or written."""
    case = make_case()
    case.source_path = workdir / "project" / "cases" / "case.yaml"
    (workdir / "project" / "cases" / "case.yaml").write_text("name: x\n")
    before = listing(workdir)

    def no_mesh(*args, **kwargs):
        raise AssertionError("the mesh was built before the output directory was checked")

    monkeypatch.setattr("ecmx.meshes.load_mesh", no_mesh)
    for overwrite in (False, True):
        with pytest.raises(CaseError, match=reason):
            run_case(case, out_dir=out, overwrite=overwrite)
    assert listing(workdir) == before


def test_tilde_is_expanded(workdir):
    case = make_case()
    result = run_problem(FakeCellProblem(case), case, "~/runs/x")
    assert result.directory == workdir / "home" / "runs" / "x"
    assert summary(result.directory)["status"] == "completed"
    assert not (Path.cwd() / "~").exists()


@pytest.mark.parametrize("name", ["../victim", "/abs/victim", "a/b", "..", "."])
def test_default_directory_needs_a_plain_name(workdir, name):
    # built past the schema (which restricts names too): the run checks on its own
    case = make_case().model_copy(update={"name": name})
    with pytest.raises(CaseError, match="plain name") as info:
        run_case(case)
    assert info.value.key == "name"
    assert not (workdir / "project" / "victim").exists() and not (workdir / "project" / "work" / "results").exists()


def test_output_under_a_file_is_refused(tmp_path):
    case = make_case()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CaseError, match="is not a directory"):
        run_problem(FakeCellProblem(case), case, tmp_path / "a-file" / "out")
    with pytest.raises(CaseError, match="cannot create"):
        run_problem(FakeCellProblem(case), case, Path("/proc/ecmx-test-results"))
    assert listing(tmp_path) == ["a-file"]


# -- <out>.partial ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["file", "symlink", "foreign-directory"])
def test_a_partial_that_is_not_ours_is_refused(tmp_path, kind):
    case = make_case()
    partial = tmp_path / "res.partial"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    if kind == "file":
        partial.write_text("not a directory")
    elif kind == "symlink":
        partial.symlink_to(victim)
    else:
        partial.mkdir()
        (partial / "notes.txt").write_text("mine")
    before = listing(tmp_path)
    with pytest.raises(CaseError, match="not an unfinished ecmx run"):
        run_problem(FakeCellProblem(case), case, tmp_path / "res")
    assert listing(tmp_path) == before
    assert (victim / "thesis.tex").read_text() == "years of work"


def test_a_stale_partial_that_is_the_working_directory_is_kept(tmp_path, monkeypatch):
    case = make_case()
    DirectoryLock.create(tmp_path / "res.partial", "run").release()
    (tmp_path / "res.partial" / "notes.txt").write_text("working here")
    monkeypatch.chdir(tmp_path / "res.partial")
    with pytest.raises(CaseError, match="working directory"):
        run_problem(FakeCellProblem(case), case, "../res")
    assert (tmp_path / "res.partial" / "notes.txt").read_text() == "working here"


def test_a_stale_partial_of_a_killed_run_is_replaced(tmp_path):
    case = make_case()
    stale = DirectoryLock.create(tmp_path / "res.partial", "run")
    (tmp_path / "res.partial" / "timeseries.csv").write_text("half a row")
    stale.release()  # what the OS does when a run is killed
    result = run_problem(FakeCellProblem(case), case, tmp_path / "res")
    assert summary(result.directory)["status"] == "completed"
    assert rows(result.timeseries)[0]["time_s"] == "0.0"
    assert (result.directory / MARKER).is_file() and locked_by(result.directory) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_a_partial_in_use_is_refused_naming_the_holder(tmp_path):
    case = make_case()
    with DirectoryLock.create(tmp_path / "res.partial", "run"):
        before = listing(tmp_path)
        with pytest.raises(DirectoryInUse, match=rf"in use by another ecmx run \(pid {os.getpid()} "):
            run_problem(FakeCellProblem(case), case, tmp_path / "res")
        assert listing(tmp_path) == before


def test_second_run_on_the_same_directory_refuses_and_the_first_completes(case_dir):
    """`ecmx run` started while another run writes the same directory exits 2 at once, naming it;
    the first run keeps its lock through the rename and ends with every file."""
    out = case_dir / "shared-out"
    case = make_case(output={"snapshots": {"depth_of_discharge": [0.1, 0.3]},
                             "probes": [{"name": "centre", "point": [0, 0, 0]}]})
    second = {}

    def start_second(step):
        assert f"pid {os.getpid()}" in locked_by(case_dir / "shared-out.partial")
        env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
        second["result"] = subprocess.run([*ECMX, "run", "case.yaml", "--out", str(out), "--no-progress"], cwd=case_dir,
                                          capture_output=True, text=True, env=env, timeout=120)

    result = run_problem(StepHook(case, start_second, at=[5]), case, out)
    refused = second["result"]
    assert refused.returncode == 2, refused.stderr
    assert "in use by another ecmx run" in refused.stderr and f"pid {os.getpid()}" in refused.stderr
    assert "Traceback" not in refused.stderr
    # the first run: complete, every file present, lock released
    done = summary(out)
    assert done["status"] == "completed" and result.directory == out
    assert {"case.yaml", "timeseries.csv", "probes.csv", "summary.json", MARKER} <= {p.name for p in out.iterdir()}
    assert len(rows(out / "timeseries.csv")) == done["steps"]["accepted"] + 1
    assert len(rows(out / "probes.csv")) == done["steps"]["accepted"] + 1
    for series in [out / "fields" / "particle.xdmf", *(out / s["particle"] for s in done["snapshots"])]:
        assert read_xdmf(series).point_data["particle_concentration_mol_m3"].size  # lists complete data
    assert locked_by(out) is None
    assert not (case_dir / "shared-out.partial").exists()


# -- run-time failures -----------------------------------------------------------------------------

def test_full_disk_keeps_the_partial_directory_with_status_failed(tmp_path, monkeypatch):
    import ecmx.postprocess.xdmf as xdmf

    real_write, calls = xdmf.atomic_write_text, []

    def fill_up(path, *args, **kwargs):
        calls.append(path)
        if len(calls) > 12:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(xdmf, "atomic_write_text", fill_up)  # each field write ends with its .xdmf
    case = make_case()
    with pytest.raises(OutputError, match="No space left on device") as info:
        run_problem(FakeCellProblem(case), case, tmp_path / "res")
    partial = tmp_path / "res.partial"
    assert str(partial) in str(info.value)
    assert not (tmp_path / "res").exists()  # never presented as complete
    state = summary(partial)
    assert state["status"] == "failed" and "No space left on device" in state["reason"]
    assert len(rows(partial / "timeseries.csv")) >= 6  # what was written stays readable
    assert locked_by(partial) is None


def test_output_directory_removed_mid_run(tmp_path):
    import shutil

    case = make_case()
    problem = StepHook(case, lambda step: shutil.rmtree(tmp_path / "res.partial"), at=[10])
    with pytest.raises(OutputError, match="cannot write the results"):
        run_problem(problem, case, tmp_path / "res")
    assert not (tmp_path / "res").exists() and not (tmp_path / "res.partial").exists()


def test_overwrite_whose_old_copy_cannot_be_deleted_says_where_the_results_are(tmp_path, monkeypatch):
    case = make_case()
    out = tmp_path / "res"
    run_problem(FakeCellProblem(case), case, out)
    first = summary(out)["wall_time_s"]

    def refuse(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr("ecmx.solver.studies.outdir.shutil.rmtree", refuse)
    with pytest.raises(OutputError, match=rf"Permission denied .*; they are in {out}$"):
        run_problem(FakeCellProblem(case), case, out, overwrite=True)
    assert summary(out)["wall_time_s"] != first  # the new results are in place
    assert locked_by(out) is None


def test_ctrl_c_keeps_the_partial_directory_with_status_interrupted(tmp_path):
    # Python's own handler, as in `ecmx run` (a library loaded by an earlier test may have reset it)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupt_a_run(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_a_run(tmp_path):
    case = make_case()
    problem = StepHook(case, lambda step: os.kill(os.getpid(), signal.SIGINT), at=[10])
    with pytest.raises(KeyboardInterrupt, match="res.partial"):
        run_problem(problem, case, tmp_path / "res")
    partial = tmp_path / "res.partial"
    assert not (tmp_path / "res").exists()
    state = summary(partial)
    assert state["status"] == "interrupted" and state["steps"]["accepted"] == 10
    assert len(rows(partial / "timeseries.csv")) == 11
    assert locked_by(partial) is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    # the next run replaces the unfinished one
    assert summary(run_problem(FakeCellProblem(case), case, tmp_path / "res").directory)["status"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_cli_run_interrupted(case_dir):
    """Ctrl-C during `ecmx run`: a clear message, exit 130, the run stays <out>.partial."""
    (case_dir / "slow.yaml").write_text((case_dir / "case.yaml").read_text()
                                        + "solver: {time_step: {max: 0.5 s}}\noutput: {fields_every: 1000}\n")
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
    run = subprocess.Popen([*ECMX, "run", "slow.yaml", "--out", "out", "--no-progress"], cwd=case_dir,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           preexec_fn=default_sigint)
    timeseries = case_dir / "out.partial" / "timeseries.csv"
    try:
        deadline = time.monotonic() + 90
        while not (timeseries.exists() and len(timeseries.read_text().splitlines()) > 5):
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == INTERRUPTED, stderr
    assert "interrupted" in stderr and "out.partial" in stderr and "Traceback" not in stderr
    assert summary(case_dir / "out.partial")["status"] == "interrupted"
    assert not (case_dir / "out").exists()


def test_cli_turns_os_errors_and_interrupts_into_one_line(capsys):
    import typer

    for error, status, text in ((OSError(errno.EROFS, "Read-only file system", "/x/y"), 1,
                                 "Read-only file system: /x/y"),
                                (KeyboardInterrupt("the unfinished run is in /r.partial"), INTERRUPTED, "interrupted")):
        with pytest.raises(typer.Exit) as info, user_errors():
            raise error
        assert info.value.exit_code == status
        message = capsys.readouterr().err
        assert text in message and len(message.strip().splitlines()) == 1


# -- guards and probes -----------------------------------------------------------------------------

def test_step_count_guard(tmp_path):
    case = make_case(solver={"max_steps": 10})
    with pytest.raises(SolveError, match="solver.max_steps = 10"):
        run_problem(FakeCellProblem(case), case, tmp_path / "res")
    state = summary(tmp_path / "res")
    assert state["status"] == "failed" and "solver.max_steps" in state["reason"]
    assert state["steps"]["accepted"] == 10 and len(rows(tmp_path / "res" / "timeseries.csv")) == 11


def test_field_volume_guard(tmp_path):
    case = make_case(output={"max_field_bytes": 20_000, "fields_every": 1, "snapshots": {"depth_of_discharge": []}})
    with pytest.raises(SolveError, match="output.max_field_bytes"):
        run_problem(FakeCellProblem(case), case, tmp_path / "res")
    state = summary(tmp_path / "res")
    assert state["status"] == "failed" and "output.max_field_bytes" in state["reason"]
    written = sum(p.stat().st_size for p in (tmp_path / "res" / "fields").glob("*.bin"))
    assert 20_000 < written < 40_000  # stopped at the first set over the limit (plus the final state)


@pytest.mark.parametrize("point", [(2e-6, 0.0, 0.0), (0.0, 0.0, float("nan"))])
def test_probe_outside_the_mesh_is_refused_before_writing(tmp_path, point):
    case = make_case(output={"probes": [{"name": "centre", "point": [0, 0, 0]}, {"name": "far", "point": [0, 0, 0]}]})
    # the point set past the schema (which may refuse NaN itself): the run checks on its own
    probes = [case.output.probes[0], case.output.probes[1].model_copy(update={"point": point})]
    case = case.model_copy(update={"output": case.output.model_copy(update={"probes": probes})})
    with pytest.raises(CaseError, match="lies outside the mesh") as info:
        run_problem(FakeCellProblem(case, with_electrolyte=False), case, tmp_path / "res")
    assert info.value.key == "output.probes.1.point"
    assert listing(tmp_path) == []
