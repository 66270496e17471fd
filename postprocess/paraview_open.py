"""Open an ecmx run in ParaView with sensible colouring (a ParaView Python script, not an ecmx module).

Usage (ParaView 5.11 or later; Debian's ``paraview`` package provides ``pvpython``)::

    pvpython paraview_open.py RUN_DIR --state run.pvsm       # then: paraview --state=run.pvsm
    xvfb-run -a pvpython paraview_open.py RUN_DIR --screenshot run.png [--time 1800]

``ecmx paraview RUN_DIR --script`` prints this file's path. RUN_DIR is a run directory (it has
``fields/particle.xdmf``) or a snapshot directory (``snapshots/dod_0.50``). Two camera-linked
views side by side show the particle warped by its displacement (scaled so that the largest displacement reads
as 10 % of the particle size; the factor is printed and shown in the title): θ = c/c_max with a
fixed 0–1 range, and the von Mises stress in MPa. The electrolyte (3D and axisymmetric runs) is
loaded but hidden. Coordinates and displacement are both in µm (ecmx field files, docs/paraview.md).

Rendering needs a display: Debian's ``pvpython --force-offscreen-rendering`` crashes on render,
``xvfb-run`` works. ``--state`` alone renders nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from paraview import simple as pv

WARP_FRACTION = 0.1
"""The largest displacement is drawn as this fraction of the particle's size."""


def series_files(run_dir: Path) -> tuple[Path, Path | None]:
    """The particle and (if written) electrolyte ``.xdmf`` files of a run or snapshot directory."""
    for folder in (run_dir / "fields", run_dir):
        particle = folder / "particle.xdmf"
        if particle.is_file():
            electrolyte = folder / "electrolyte.xdmf"
            return particle, electrolyte if electrolyte.is_file() else None
    raise SystemExit(f"{run_dir}: no fields/particle.xdmf (not an ecmx run directory of this version)")


def _array_range(source, name: str) -> tuple[float, float] | None:
    """The range of a point array (the magnitude of a vector) at the current time, or None."""
    info = source.PointData.GetArray(name)
    return tuple(info.GetRange(-1)) if info is not None else None


def warp_scale(reader) -> float:
    """A displacement scale that draws the largest displacement as WARP_FRACTION of the mesh size."""
    magnitude = _array_range(reader, "displacement_um")
    bounds = reader.GetDataInformation().GetBounds()
    size = max(bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4])
    if magnitude is None or magnitude[1] <= 0.0 or not math.isfinite(magnitude[1]):
        return 0.0
    return float(f"{WARP_FRACTION * size / magnitude[1]:.1g}")


def colour(display, view, name: str, title: str, value_range: tuple[float, float]) -> None:
    """Colour ``display`` by point array ``name`` over a fixed range, with a titled colour bar."""
    pv.ColorBy(display, ("POINTS", name))
    lut = pv.GetColorTransferFunction(name)
    lut.AutomaticRescaleRangeMode = "Never"
    lut.RescaleTransferFunction(*value_range)
    pv.GetOpacityTransferFunction(name).RescaleTransferFunction(*value_range)
    display.SetScalarBarVisibility(view, True)
    pv.GetScalarBar(lut, view).Title = title


def stress_view(source, view) -> None:
    """Von Mises stress in MPa (a calculator on ``von_mises_Pa``), range of the shown time."""
    mpa = pv.Calculator(Input=source, ResultArrayName="von_mises_MPa", Function="von_mises_Pa*1e-6")
    display = pv.Show(mpa, view)
    display.LineWidth = 4.0
    high = (_array_range(mpa, "von_mises_MPa") or (0.0, 1.0))[1]
    colour(display, view, "von_mises_MPa", "von Mises stress (MPa)", (0.0, max(high, 1e-9)))


def open_run(run_dir: Path, time: float | None = None) -> dict[str, object]:
    """Build the pipeline and the two views; returns what was set (for scripts and tests)."""
    particle_file, electrolyte_file = series_files(run_dir)
    reader = pv.Xdmf3ReaderS(registrationName="particle", FileName=[str(particle_file.resolve())])
    times = list(reader.TimestepValues) if hasattr(reader.TimestepValues, "__len__") else [reader.TimestepValues]
    scene = pv.GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    shown = times[-1] if time is None else min(times, key=lambda t: abs(t - time))
    scene.AnimationTime = shown
    reader.UpdatePipeline(shown)
    scale = warp_scale(reader)
    source = pv.WarpByVector(Input=reader, Vectors=["POINTS", "displacement_um"], ScaleFactor=scale) if scale else reader
    theta_view = pv.GetActiveViewOrCreate("RenderView")
    layout = pv.GetLayout(theta_view)
    shown_particle = pv.Show(source, theta_view)
    shown_particle.LineWidth = 4.0  # a sphere-1d run is a line along its radius
    colour(shown_particle, theta_view, "theta", "theta = c/c_max", (0.0, 1.0))
    stress = pv.CreateView("RenderView")
    layout.SplitHorizontal(0, 0.5)
    layout.AssignView(2, stress)
    if _array_range(reader, "von_mises_Pa") is not None:
        stress_view(source, stress)
    if electrolyte_file is not None:
        electrolyte = pv.Xdmf3ReaderS(registrationName="electrolyte", FileName=[str(electrolyte_file.resolve())])
        pv.Hide(electrolyte, theta_view)
    label = pv.AnnotateTimeFilter(reader, Format=f"t = {{time:.6g}} s   (displacement ×{scale:g})")
    for view in (theta_view, stress):
        view.ViewTime = shown
        pv.Show(label, view)
        view.ResetCamera()
    pv.AddCameraLink(theta_view, stress, "ecmx-views")  # rotate one, both follow
    pv.SetActiveView(theta_view)
    return {"times": times, "time": shown, "warp_scale": scale, "layout": layout}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="run directory (or a snapshot directory)")
    parser.add_argument("--time", type=float, help="time to show, s (default: the last)")
    parser.add_argument("--state", help="save a ParaView state file (open with paraview --state=FILE)")
    parser.add_argument("--screenshot", help="save a PNG of both views (needs a display: xvfb-run)")
    args = parser.parse_args(argv)
    opened = open_run(Path(args.run_dir), args.time)
    print(f"ecmx: t = {opened['time']:g} s of {len(opened['times'])} times; warp scale {opened['warp_scale']:g}")
    if args.state:
        pv.SaveState(args.state)
    if args.screenshot:
        pv.SaveScreenshot(args.screenshot, opened["layout"], ImageResolution=[1600, 700])


if __name__ == "__main__":
    main(sys.argv[1:])
