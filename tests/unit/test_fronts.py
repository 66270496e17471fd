"""The phase-boundary figures (ecmx.postprocess.fronts): the binodal and shrinking-core law they
draw against, and that they are drawn for runs with a phase boundary and only for those."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from support.fake_runs import fake_case, write_fake_run

from ecmx.postprocess import fronts
from ecmx.postprocess.rundata import load_run


def test_shrinking_core_mass_balance() -> None:
    """Window = gap: r_f/R = (1 − DOD)^{1/3}; a window inside a wider gap starts with a core smaller
    than the particle: (θ_β − θ̄)/(θ_β − θ_α) with θ̄ from the window."""
    dod = np.linspace(0, 1, 11)
    assert fronts.shrinking_core_radius(dod, (0.1, 0.9), (0.1, 0.9)) == pytest.approx(np.cbrt(1 - dod), abs=1e-14)
    inside = fronts.shrinking_core_radius(np.array([0.0, 1.0]), (0.2, 0.8), (0.0, 1.0))
    assert inside == pytest.approx([0.8 ** (1 / 3), 0.2 ** (1 / 3)])


def _with_front(directory: Path) -> Path:
    """Add the phase-field columns to a fake run: the shrinking-core front and a falling energy."""
    path = directory / "timeseries.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = [*rows[0], fronts.RADIUS_COLUMN, fronts.ENERGY_COLUMN]
    for row in rows:
        dod = float(row["depth_of_discharge"])
        row[fronts.RADIUS_COLUMN] = 1e-6 * (1 - dod) ** (1 / 3)
        row[fronts.ENERGY_COLUMN] = -1e-12 * dod
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return directory


def test_front_figures_only_for_runs_with_a_front(tmp_path: Path) -> None:
    solid = load_run(write_fake_run(tmp_path / "hev", fake_case("hev", "sphere-1d"), dods=(0.1,)))
    assert fronts.front_radius([solid], tmp_path / "r.png") is None
    assert fronts.front_profiles([solid], [0.1, 0.5, 0.9], tmp_path / "p.png") is None
    assert fronts.free_energy([solid], tmp_path / "e.png") is None
    assert not list(tmp_path.glob("*.png"))
    two_phase = load_run(_with_front(write_fake_run(tmp_path / "nvp", fake_case("nvp", "sphere-1d"), dods=(0.1,))))
    runs = [two_phase, solid]
    radius = fronts.front_radius(runs, tmp_path / "r.png")
    (line,) = radius.axes[0].get_lines()
    assert line.get_ydata() == pytest.approx(np.cbrt(1 - line.get_xdata() / 100), abs=1e-6)
    profiles = fronts.front_profiles(runs, [0.1], tmp_path / "p.png")
    dashed = [ln for ln in profiles.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == pytest.approx(0.9 ** (1 / 3), abs=0.02)
    assert fronts.free_energy(runs, tmp_path / "e.png") is not None
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["e.png", "p.png", "r.png"]
