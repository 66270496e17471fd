"""The comparison's figures are drawn while its sensitivity runs still run (issue 14), into the same
files as when everything is drawn after the last run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from support.fake_runs import comparison_files, fake_runner

from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies import compare
from ecmx.solver.studies.compare import run_comparison

SENSITIVITY = {"enabled": True, "depth_of_discharge": 0.5, "diffusivity": [1e-16, 1e-15], "diffusivity_ratio": [10],
               "radius": ["0.5 um", "2 um"]}


def waiting_runner(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> Path:
    """:func:`fake_runner`, with each sensitivity run (``sensitivity/s-*``, a fraction of a second
    here) waiting until the comparison's figures have been started (their staging directory
    exists; 30 s at most), so that sensitivity runs are still waiting when the comparison's own
    runs end, as in a real comparison, however fast these runs and however slow the machine."""
    if case.name.startswith("s-"):
        comparison = Path(out_dir).parents[1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(comparison.glob(".ecmx-staging-*/figures")):
            time.sleep(0.05)
    return fake_runner(case, out_dir, overwrite, progress, comm)


@pytest.mark.slow
def test_figures_start_before_the_last_sensitivity_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers, the comparison's own runs first: its figure jobs overtake the sensitivity runs
    still waiting, so the first figure is written before the last sensitivity run ends (before
    issue 14 every figure was drawn after the last run). At the end the idle workers are ended at
    once, not waited for through their interpreters' teardown."""
    ended = []

    def terminate(pool: Any) -> None:
        ended.append([p.is_alive() for p in pool._processes.values()])  # noqa: SLF001
        original(pool)

    original = compare.terminate_workers
    monkeypatch.setattr(compare, "terminate_workers", terminate)
    study = load_comparison(comparison_files(tmp_path, sensitivity=SENSITIVITY))
    result = run_comparison(study, workers=2, runner=waiting_runner, progress=False)
    assert ended == [[True, True]]
    out = result.directory
    assert not result.failures
    runs_ended = max(p.stat().st_mtime for p in (out / "sensitivity").glob("*/summary.json"))
    figures = [p for p in (out / "figures").glob("*.png") if p.name != "sensitivity.png"]
    assert {"grid.png", "profiles.png", "peaks.png", "voltage.png"} <= {p.name for p in figures}
    assert min(p.stat().st_mtime for p in figures) < runs_ended
    assert (out / "figures" / "sensitivity.png").stat().st_mtime >= runs_ended
    assert "sensitivity.png" in (out / "report.md").read_text() and (out / "sensitivity.csv").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".ecmx-staging")]
