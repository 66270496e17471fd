"""The comparison's main claim with the real solver: for the default parameters, NVP's
concentration spread and peak stresses exceed HE-V's at every depth of discharge (10, 50, 90 %);
and NFM vs HEO runs and gives its own table and figure grid.

The 3D runs use the cases' default (coarse) mesh, i.e. exactly what ``make compare`` runs; the
sphere-1d variant checks the same claim in seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies.compare import run_comparison

ROOT = Path(__file__).resolve().parents[2]
DODS = [0.1, 0.5, 0.9]


def _compare(tmp_path: Path, cases: list[str], overrides: list[str]) -> Path:
    spec = {
        "compare": {"cases": [str(ROOT / "cases" / c) for c in cases], "at": {"depth_of_discharge": DODS}, "set": overrides},
        "output": {"directory": str(tmp_path / "out")},
    }
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return run_comparison(load_comparison(path)).directory


def _ratios(directory: Path) -> list[dict[str, float | str]]:
    with open(directory / "ratios.csv") as fh:
        rows = list(csv.DictReader(fh))
    print(f"\nratios ({directory}):")
    for r in rows:
        print(f"  {r['numerator']}/{r['denominator']} at DOD {float(r['depth_of_discharge']):.0%}: "
              f"spread {float(r['concentration_spread']):.3g}, von Mises {float(r['von_mises_max_MPa']):.3g}, "
              f"max principal {float(r['max_principal_max_MPa']):.3g}, hydrostatic {float(r['hydrostatic_max_MPa']):.3g}")
    return rows


def _assert_nvp_exceeds_hev(directory: Path) -> None:
    rows = _ratios(directory)
    assert [float(r["depth_of_discharge"]) for r in rows] == DODS
    for r in rows:
        assert (r["numerator"], r["denominator"]) == ("nvp", "hev")
        for column in ("concentration_spread", "von_mises_max_MPa", "max_principal_max_MPa", "hydrostatic_max_MPa"):
            assert float(r[column]) > 2.0, (column, r)


def test_nvp_exceeds_hev_sphere_1d(tmp_path: Path) -> None:
    _assert_nvp_exceeds_hev(_compare(tmp_path, ["nvp.yaml", "hev.yaml"], ["geometry.kind=sphere-1d"]))


@pytest.mark.slow
def test_nvp_exceeds_hev_3d_default_mesh(tmp_path: Path) -> None:
    directory = _compare(tmp_path, ["nvp.yaml", "hev.yaml"], [])
    _assert_nvp_exceeds_hev(directory)
    assert (directory / "figures" / "grid.png").stat().st_size > 50_000


@pytest.mark.slow
def test_nfm_vs_heo_gives_table_and_grid(tmp_path: Path) -> None:
    directory = _compare(tmp_path, ["nfm.yaml", "heo.yaml"], [])
    rows = _ratios(directory)
    assert [float(r["depth_of_discharge"]) for r in rows] == DODS
    with open(directory / "table.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [(t["case"], float(t["depth_of_discharge"])) for t in table] == [(c, d) for c in ("nfm", "heo") for d in DODS]
    assert all(float(t["von_mises_max_MPa"]) > 0 for t in table)
    assert (directory / "figures" / "grid.png").stat().st_size > 50_000
    assert "heo" in (directory / "report.md").read_text()


# --------------------------------------------------------------------------------------------
# The shipped comparison file (one-way and two-way, sensitivity study) on sphere-1d, run once


@pytest.fixture(scope="module")
def shipped_1d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cases/nvp-vs-hev.yaml as shipped, on sphere-1d and with a smaller sensitivity study."""
    tmp = tmp_path_factory.mktemp("shipped-1d")
    spec = yaml.safe_load((ROOT / "cases" / "nvp-vs-hev.yaml").read_text())
    spec["compare"]["cases"] = [str(ROOT / "cases" / c) for c in spec["compare"]["cases"]]
    spec["compare"]["set"] = ["geometry.kind=sphere-1d"]
    spec["compare"]["sensitivity"].update(diffusivity=[1e-15, 1e-14], diffusivity_ratio=[1, 10], radius=["1 um"])
    spec["output"]["directory"] = str(tmp / "out")
    path = tmp / "nvp-vs-hev-1d.yaml"
    path.write_text(yaml.safe_dump(spec))
    return run_comparison(load_comparison(path)).directory


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_shipped_report_has_both_couplings_the_sensitivity_and_the_conclusion(shipped_1d: Path) -> None:
    report = (shipped_1d / "report.md").read_text()
    for text in ("## Conclusion", "Which inputs are assumptions", "## Result: one-way and two-way coupling side by side",
                 "| NVP, sphere-1d / HE-V, sphere-1d | 50 % |",
                 "| NVP, two-way, sphere-1d / HE-V, two-way, sphere-1d | 50 % |", "## Sensitivity",
                 "![sensitivity](figures/sensitivity.png)", "Like-for-like current (100 mA/g"):
        assert text in report, text
    ratios = {(r["group"], float(r["depth_of_discharge"])): r for r in _csv(shipped_1d / "ratios.csv")}
    one, two = ratios[("one-way", 0.5)], ratios[("two-way", 0.5)]
    # one-way: the closed-form product 5.60 (Ω) × 0.670 (1C flux) × 10 (D ratio) = 37.5
    assert float(one["von_mises_max_MPa"]) == pytest.approx(37.5, rel=0.02)
    assert float(one["concentration_spread_window"]) == pytest.approx(10.0, rel=0.02)
    # stress-assisted diffusion flattens NVP's profile far more than HE-V's
    assert float(two["von_mises_max_MPa"]) < 0.5 * float(one["von_mises_max_MPa"])
    html = (shipped_1d / "report.html").read_text()
    assert "src=\"figures/" not in html and html.count("data:image/png;base64,") >= 6


@pytest.mark.slow
def test_sensitivity_follows_the_closed_form_sphere(shipped_1d: Path) -> None:
    """Where the closed form applies (τ = Dt/R² ≥ 1 at the study's DOD) the sensitivity curve is the
    long-time sphere: NVP's peak von Mises = σ*/15 and its spread N₀R/(2D), both ∝ 1/D."""
    points = [p for p in _csv(shipped_1d / "sensitivity.csv") if p["axis"] == "diffusivity"]
    assert [float(p["value"]) for p in points] == [1e-15, 1e-14]
    products = []
    for p in points:
        assert float(p["numerator_tau"]) >= 1.0
        vm, steady = float(p["numerator_von_mises_MPa"]), float(p["numerator_steady_von_mises_MPa"])
        assert vm == pytest.approx(steady, rel=0.01)
        assert float(p["numerator_spread_window"]) == pytest.approx(float(p["numerator_steady_spread_window"]), rel=0.01)
        products.append(vm * float(p["value"]))
    assert products[1] == pytest.approx(products[0], rel=0.01)  # σ ∝ 1/D
    assert (shipped_1d / "figures" / "sensitivity.png").stat().st_size > 30_000


@pytest.mark.slow
def test_illustrative_d_theta_makes_the_depths_of_discharge_differ(tmp_path: Path) -> None:
    """With the illustrative D(θ) of cases/nvp-vs-hev-dtheta.yaml, NVP's spread at DOD 50 % (the dip
    of D) is several times that at DOD 10 % and 90 %; with a constant D the three are equal."""
    directory = _compare(tmp_path, ["nvp-dtheta.yaml", "hev-dtheta.yaml"], ["geometry.kind=sphere-1d"])
    rows = {(r["case"], float(r["depth_of_discharge"])): float(r["concentration_spread_window"])
            for r in _csv(directory / "table.csv")}
    nvp = [rows[("nvp-dtheta", d)] for d in DODS]
    assert nvp[1] > 3 * nvp[0] and nvp[1] > 3 * nvp[2], nvp
    assert "ILLUSTRATIVE" in (directory / "report.md").read_text()
