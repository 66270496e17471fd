"""The impedance study (``ecmx impedance``): the small-signal spectrum of a case at a state of charge.

The case is put at rest at the given state of charge (uniform θ = θ_hi − SOC (θ_hi − θ_lo), c = c₀,
rest potentials: an exact equilibrium), linearised under current control
(:mod:`ecmx.solver.fem.impedance`) and solved per frequency. Results directory (written through a
locked ``<out>.partial`` and moved into place, like a run; :class:`~ecmx.solver.studies.run.ResultsDirectory`):

```
<out>/impedance.csv   frequency_Hz, Z_real_Ohm, Z_imag_Ohm, Z_real_Ohm_m2, Z_imag_Ohm_m2 (Z·A_Γ)
<out>/nyquist.png, bode.png (+ .pdf)   per unit particle area
<out>/case.yaml       the resolved case at that state of charge
<out>/summary.json    state of charge, θ, particle area, DOFs, wall time, versions
```

Z = δV/δI with I anodic positive (charge): Re Z > 0. Default directory: ``results/<name>-impedance``.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.solver.errors import CaseError
from ecmx.solver.units import to_si

MAX_POINTS = 1000
"""The most frequencies of one spectrum."""
FREQUENCY_RANGE_HZ = (1e-9, 1e9)
"""Frequencies outside this range [Hz] are refused."""
COLUMNS = ("frequency_Hz", "Z_real_Ohm", "Z_imag_Ohm", "Z_real_Ohm_m2", "Z_imag_Ohm_m2")


def parse_frequencies(text: str, points: int, key: str = "--frequencies") -> np.ndarray:
    """``points`` log-spaced frequencies [Hz] from ``"LOW:HIGH"`` (numbers in Hz, or quantities such as
    ``"10 mHz:100 kHz"``). CaseError naming ``key`` (or ``--points``) for anything else."""
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise CaseError(f"expected a whole number of frequencies from 1 to {MAX_POINTS}, got {points!r}", key="--points")
    parts = str(text).split(":")
    if len(parts) != 2:
        raise CaseError(f"expected LOW:HIGH in Hz (e.g. 1e-3:1e5 or '10 mHz:100 kHz'), got {text!r}", key=key)
    try:
        low, high = (to_si(p, "Hz") for p in parts)
    except ValueError as exc:
        raise CaseError(f"expected LOW:HIGH in Hz: {exc}", key=key) from None
    lo_ok, hi_ok = FREQUENCY_RANGE_HZ
    if not lo_ok <= low <= high <= hi_ok:
        raise CaseError(f"expected {lo_ok:g} Hz <= LOW <= HIGH <= {hi_ok:g} Hz, got {text!r}", key=key)
    if low == high and points > 1:
        raise CaseError(f"LOW = HIGH gives one frequency, but --points is {points}", key=key)
    return np.logspace(math.log10(low), math.log10(high), points)


MAX_STATES = 100
"""The most states of charge of one ``ecmx impedance`` call."""


def parse_states_of_charge(text: str, key: str = "--state-of-charge") -> list[float]:
    """The states of charge of ``text``: a comma list of numbers and/or ``START:STOP:COUNT`` ranges
    (COUNT evenly spaced values, ends included), each finite and from 0 to 1, none repeated, at most
    :data:`MAX_STATES` in all. CaseError naming ``key`` for anything else."""
    text = str(text)
    if len(text) > 100 * MAX_STATES:
        raise CaseError(f"expected at most {MAX_STATES} states of charge, got {len(text)} characters", key=key)
    states: list[float] = []
    for item in text.split(","):
        states.extend(_state_item(item.strip(), key))
        if len(states) > MAX_STATES:
            raise CaseError(f"expected at most {MAX_STATES} states of charge in {text!r}", key=key)
    for soc in states:
        if not (math.isfinite(soc) and 0.0 <= soc <= 1.0):
            raise CaseError(f"expected states of charge from 0 to 1, got {soc:g} in {text!r}", key=key)
    seen = [round(s, 9) for s in states]
    if len(set(seen)) != len(seen):
        raise CaseError(f"a state of charge is given twice (to 9 decimals) in {text!r}", key=key)
    return states


def _state_item(item: str, key: str) -> list[float]:
    """The states of one item of the list: a number or START:STOP:COUNT."""
    parts = item.split(":")
    try:
        if len(parts) == 1:
            return [float(item)]
        if len(parts) == 3:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if not 2 <= count <= MAX_STATES:
                raise ValueError(f"COUNT from 2 to {MAX_STATES}, got {count}")
            return [float(v) for v in np.linspace(start, stop, count)]
    except ValueError as exc:
        raise CaseError(f"expected SOC[,SOC...] or START:STOP:COUNT (e.g. 0.5 or 0.2,0.5,0.8 or 0.1:0.9:5), "
                        f"got {item!r}: {exc}", key=key) from None
    raise CaseError(f"expected SOC[,SOC...] or START:STOP:COUNT (e.g. 0.5 or 0.1:0.9:5), got {item!r}", key=key)


def state_labels(states: list[float]) -> list[str]:
    """Sub-directory names ``soc-0.50``, … of ``states`` (distinct; more decimals where 2 do not tell
    them apart)."""
    for digits in range(2, 10):
        labels = [f"soc-{soc:.{digits}f}" for soc in states]
        if len(set(labels)) == len(labels):
            return labels
    raise CaseError("states of charge closer than 1e-9 cannot be told apart", key="--state-of-charge")


def case_at_state_of_charge(case: Any, state_of_charge: float) -> Any:
    """``case`` starting at rest at ``state_of_charge`` (1: charged, θ = θ_lo); CaseError naming
    ``--state-of-charge`` outside [0, 1]."""
    from ecmx.solver.config.case import Initial

    if not (isinstance(state_of_charge, int | float) and 0.0 <= state_of_charge <= 1.0):
        raise CaseError(f"expected a state of charge from 0 to 1, got {state_of_charge!r}", key="--state-of-charge")
    return case.model_copy(update={"initial": Initial(state_of_charge=float(state_of_charge))})


@dataclass(frozen=True)
class Spectrum:
    """An impedance spectrum: f [Hz], Z [Ω] (complex) and the particle area A_Γ [m²]."""

    frequencies_hz: np.ndarray
    impedance_ohm: np.ndarray
    particle_area_m2: float

    def rows(self) -> list[dict[str, float]]:
        """The rows of ``impedance.csv``."""
        area = self.particle_area_m2
        return [{"frequency_Hz": float(f), "Z_real_Ohm": z.real, "Z_imag_Ohm": z.imag,
                 "Z_real_Ohm_m2": z.real * area, "Z_imag_Ohm_m2": z.imag * area}
                for f, z in zip(self.frequencies_hz, self.impedance_ohm, strict=True)]


def default_directory_case(case: Any) -> Any:
    """A copy of ``case`` whose default results directory is ``results/<name>-impedance``."""
    output = case.output.model_copy(update={"directory": None})
    return case.model_copy(update={"name": f"{case.name}-impedance", "output": output})


def run_impedance(case: Any, state_of_charge: float, frequencies_hz: np.ndarray, out_dir: str | Path | None = None,
                  comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False,
                  cache_dir: Path | None = None) -> tuple[Path, Spectrum]:
    """Compute the spectrum of ``case`` at ``state_of_charge`` and write its results directory
    (collective). Checks the directory before any work (CaseError, nothing written); a failed solve
    raises SolveError before anything is written."""
    from ecmx.solver.studies.run import results_directory

    started = time.perf_counter()
    case = case_at_state_of_charge(case, state_of_charge)
    directory = results_directory(case if out_dir is not None else default_directory_case(case), out_dir, comm,
                                  overwrite)
    spectrum, sizes = compute_spectrum(case, frequencies_hz, comm, cache_dir)
    summary = {"status": "completed", "state_of_charge": float(state_of_charge),
               "stoichiometry": float(case.initial_stoichiometry()), "points": len(spectrum.frequencies_hz),
               **sizes, "mpi_ranks": comm.size, "wall_time_s": time.perf_counter() - started}
    write_spectrum(directory.create(), case, spectrum, summary, comm)
    return directory.finish(), spectrum


def compute_spectrum(case: Any, frequencies_hz: np.ndarray, comm: MPI.Comm,
                     cache_dir: Path | None = None) -> tuple[Spectrum, dict[str, Any]]:
    """The spectrum of ``case`` (already at its state of charge) and its sizes (``particle_area_m2``
    [m²], ``num_dofs``) for summary.json. Collective; SolveError when a solve fails."""
    from ecmx.meshes import load_mesh
    from ecmx.solver.fem.cell_problem import CellProblem
    from ecmx.solver.fem.impedance import impedance

    problem = CellProblem(load_mesh(case.geometry, comm=comm, cache_dir=cache_dir), case)
    problem.set_initial_state()
    spectrum = Spectrum(np.asarray(frequencies_hz, dtype=float), impedance(problem, frequencies_hz),
                        problem.particle_area_m2)
    return spectrum, {"particle_area_m2": problem.particle_area_m2, "num_dofs": problem.num_dofs}


def write_spectrum(out: Path, case: Any, spectrum: Spectrum, summary: dict[str, Any], comm: MPI.Comm) -> None:
    """impedance.csv, case.yaml, the plots and summary.json into ``out`` (collective; rank 0 writes);
    ``summary`` gets the versions."""
    from ecmx.postprocess.impedance_plots import plot_impedance
    from ecmx.postprocess.run_files import CsvWriter, write_json, writing

    writing(comm, (out / "case.yaml").write_text, case.to_yaml(), "utf-8")
    table = CsvWriter(out / "impedance.csv", COLUMNS, comm)
    table.write_rows(spectrum.rows())
    table.close()
    writing(comm, plot_impedance, out / "impedance.csv", out,
            f"{case.name}, SOC {summary['state_of_charge']:g}")
    summary["versions"] = versions()
    write_json(out / "summary.json", summary, comm)


def versions() -> dict[str, str]:
    """The versions of ecmx, DOLFINx and Python, for summary.json."""
    import dolfinx

    from ecmx.solver import __version__

    return {"ecmx": __version__, "dolfinx": dolfinx.__version__, "python": platform.python_version()}
