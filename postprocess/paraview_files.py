"""What ``ecmx paraview`` prints: a run's ParaView files and how to open them.

The shipped ParaView script is :data:`SCRIPT` (``paraview_open.py`` beside this module; it runs in
ParaView's own Python, ``pvpython``, and imports nothing from ecmx). Field files are the XDMF
series of :mod:`ecmx.postprocess.xdmf`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ecmx.postprocess.xdmf import xdmf_times
from ecmx.solver.errors import CaseError

SCRIPT = Path(__file__).with_name("paraview_open.py")
"""The ParaView Python script that opens a run with θ, von Mises stress and the displacement warp."""


def series_of_run(run_dir: Path) -> list[Path]:
    """The ``.xdmf`` series of a run directory: ``fields/*.xdmf``, then each snapshot's.

    Raises:
        CaseError: ``run_dir`` holds no ``fields/particle.xdmf`` (not a run of this ecmx version;
            runs of older versions wrote ``fields/particle.pvd``, which ParaView opens directly).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "fields" / "particle.xdmf").is_file():
        old = " (a run of an older ecmx: open its fields/particle.pvd in ParaView directly)" if (
            run_dir / "fields" / "particle.pvd").is_file() else ""
        raise CaseError(f"not an ecmx run directory: no fields/particle.xdmf{old}", file=run_dir)
    return sorted((run_dir / "fields").glob("*.xdmf")) + sorted(run_dir.glob("snapshots/*/*.xdmf"))


def describe(run_dir: Path) -> str:
    """The series of a run (times and first/last time each) and the commands that open it."""
    lines = []
    for path in series_of_run(run_dir):
        times = xdmf_times(path)
        lines.append(f"{path}: {len(times)} time(s), {times[0]:g} s to {times[-1]:g} s")
    run, script = shlex.quote(str(run_dir)), shlex.quote(str(SCRIPT))
    lines += ["", "open in the ParaView GUI (state file with theta 0-1, von Mises stress, warp by displacement):",
              f"  pvpython {script} {run} --state run.pvsm && paraview --state=run.pvsm",
              "render both views to a PNG (Debian's pvpython needs a display: xvfb-run):",
              f"  xvfb-run -a pvpython {script} {run} --screenshot run.png",
              "coordinates and displacement in µm; the unit of every array is in its name (docs/paraview.md)"]
    return "\n".join(lines)
