"""The comparison's variants, sensitivity plan and report, on synthetic runs (tests/support/fake_runs.py):
one-way and two-way side by side, the like-for-like current, the one-file HTML, the redraw from the
comparison directory's files, and figure modules that leave the caller's matplotlib backend alone."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.fake_runs import comparison_files, fake_runner

from ecmx.postprocess.report import build_comparison_report
from ecmx.solver.config.studies import load_comparison
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.compare import comparison_runs, run_comparison
from ecmx.solver.studies.sensitivity import sensitivity_plan

ROOT = Path(__file__).resolve().parents[2]
SMALL_SENSITIVITY = {"diffusivity": ["1e-15 m^2/s", "1e-14 m^2/s"], "diffusivity_ratio": [1, 10], "radius": ["1 um"]}


def test_couplings_and_same_specific_current_make_the_variants(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path, couplings=["one-way", "two-way"], current="same-specific-current",
                                             specific_current="100 mA/g"))
    runs = comparison_runs(study)
    assert [(r.name, r.case.mechanics.coupling, r.info["group"]) for r in runs] == [
        ("nvp", "one-way", "one-way"), ("hev", "one-way", "one-way"),
        ("nvp-two-way", "two-way", "two-way"), ("hev-two-way", "two-way", "two-way")]
    for run in runs:
        step = run.case.protocol[0]
        # 100 mA/g = c_rate × the capacity of the window in mAh/g
        assert step.c_rate * run.case.material.capacity_mAh_per_g == pytest.approx(100.0, rel=1e-9)
        assert sorted(run.case.output.snapshots.depth_of_discharge) == [0.1, 0.5, 0.9]


def test_sensitivity_plan_runs_each_distinct_variant_once(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path, sensitivity=SMALL_SENSITIVITY))
    runs, manifest = sensitivity_plan(study)
    # shipped pair, D = 1e-14 pair (HE-V at 1e-13), ratio 1 (HE-V only), like-for-like pair
    assert len(runs) == 7
    assert all(r.case.geometry.kind == "sphere-1d" and len(r.case.protocol) == 1 for r in runs)
    assert all(r.case.protocol[0].until.depth_of_discharge == 0.5 for r in runs)
    by_name = {r.name: r.case for r in runs}
    point = next(p for p in manifest["points"] if p["axis"] == "diffusivity" and p["value"] == 1e-14)
    assert by_name[point["runs"]["numerator"]].material.diffusivity == pytest.approx(1e-14)
    assert by_name[point["runs"]["denominator"]].material.diffusivity == pytest.approx(1e-13)
    shipped = [p["axis"] for p in manifest["points"] if p["shipped"]]
    assert shipped == ["shipped", "diffusivity", "diffusivity_ratio", "radius"]


@pytest.mark.parametrize(("extra", "key"), [
    ({"couplings": ["one-way", "one-way"]}, "compare.couplings"),
    ({"sensitivity": {"diffusivity": []}}, "compare.sensitivity.diffusivity"),
    ({"specific_current": "-5 mA/g"}, "compare.specific_current"),
    ({"current": "own-rate"}, "compare.current"),
])
def test_bad_comparison_keys_are_one_clear_error(tmp_path: Path, extra: dict, key: str) -> None:
    with pytest.raises(CaseError) as info:
        load_comparison(comparison_files(tmp_path, **extra))
    assert info.value.key == key and "cmp.yaml" in str(info.value)


def test_tabulated_diffusivity_refuses_the_sensitivity_study(tmp_path: Path) -> None:
    path = comparison_files(tmp_path, sensitivity=SMALL_SENSITIVITY)
    data = yaml.safe_load((tmp_path / "nvp.yaml").read_text())
    data["material"]["diffusivity"] = {"stoichiometry": [0.0, 1.0], "value": [1e-15, 1e-16]}
    (tmp_path / "nvp.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(CaseError, match="constant material.diffusivity"):
        sensitivity_plan(load_comparison(path))


def _one_file(html: str) -> None:
    """Every image inline, no link to another file."""
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert not re.findall(r'href="(?!#|https?:)', html)


@pytest.mark.slow
def test_report_is_one_file_and_redraws_from_the_directory(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path, couplings=["one-way", "two-way"], sensitivity=SMALL_SENSITIVITY,
                                             set=["geometry.kind=sphere-1d"]))
    run_comparison(study, workers=1, runner=fake_runner)
    out = tmp_path / "out"
    html = (out / "report.html").read_text()
    _one_file(html)
    assert "<title>NVP vs HE-V: Na concentration and stress" in html
    report = (out / "report.md").read_text()
    for text in ("## Conclusion", "which inputs are assumptions", "one-way coupling:", "two-way coupling:",
                 "NVP, two-way, sphere-1d / HE-V, two-way, sphere-1d", "## Sensitivity", "figures/sensitivity.png",
                 "## Methods and sources"):
        assert text.lower() in report.lower(), text
    with open(out / "ratios.csv") as fh:
        groups = [r["group"] for r in csv.DictReader(fh)]
    assert groups == ["one-way"] * 3 + ["two-way"] * 3
    # redraw from the files alone
    for name in ("report.html", "report.md", "table.csv", "sensitivity.csv"):
        (out / name).unlink()
    written = build_comparison_report(out)
    for name in ("report.html", "report.md", "table.csv", "sensitivity.csv", "figures/grid_own_scale.png",
                 "figures/sensitivity.pdf"):
        assert (out / name).is_file(), name
    assert out / "report.html" in written
    _one_file((out / "report.html").read_text())


def test_figure_modules_leave_the_backend_alone(tmp_path: Path) -> None:
    """Importing and calling the figure modules keeps the caller's backend and pyplot unloaded."""
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('pdf')\n"
        "from ecmx.postprocess import figures, report, sensitivity, plotting, sweep_plots\n"
        "fig = plotting.new_figure(); fig.add_subplot().plot([0, 1]); plotting.save(fig, __import__('pathlib').Path(sys.argv[1]))\n"
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.png")], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.png").is_file() and (tmp_path / "x.pdf").is_file()


def test_3d_view_renders_without_a_display(tmp_path: Path) -> None:
    """The COMSOL-like 3D view draws off-screen with no DISPLAY (or says in one log line why not)."""
    code = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from support.fake_runs import fake_case, write_fake_run\n"
        "from ecmx.postprocess.rundata import load_run\n"
        "from ecmx.postprocess.view3d import particle_views\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "out = Path(sys.argv[1])\n"
        "runs = [load_run(write_fake_run(out / m, fake_case(m, 'particle-in-electrolyte'))) for m in ('nvp', 'hev')]\n"
        "runs.append(load_run(write_fake_run(out / 'one-d', fake_case('nvp', 'sphere-1d'))))\n"
        "fig = particle_views(runs, (0.1, 0.9), out / 'view.png')\n"
        "print('FIGURE' if fig is not None else 'NONE', sum(len(ax.images) for ax in fig.axes) if fig is not None else 0,\n"
        "      len([ax for ax in fig.axes if ax.get_label() == '<colorbar>']) if fig is not None else 0)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = f"{ROOT / 'tests'}:{env.get('PYTHONPATH', '')}"
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    if "NONE" in result.stdout:  # a machine without off-screen GL: one clear line, no crash
        assert "3D particle view skipped: off-screen rendering is not available" in result.stderr
        pytest.skip("no off-screen rendering on this machine")
    # 2 runs × 2 quantities × 2 depths of discharge images, and one colour bar per row
    assert "FIGURE 8 4" in result.stdout, result.stdout
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "view.png")
    assert image[..., :3].std() > 0.05 and (tmp_path / "view.pdf").is_file()
