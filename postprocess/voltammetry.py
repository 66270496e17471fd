"""The cyclic voltammogram: current against cell voltage over the ``voltage_sweep`` steps of a run.

Drawn by ``ecmx report`` (and a comparison) as ``figures/cyclic_voltammogram.png`` (PDF beside it)
when a run's protocol has a ``voltage_sweep`` step; the rows drawn are those of ``timeseries.csv``
whose ``step`` is such a step. The current is charge-positive (anodic, Na extraction), in the
engineering prefix that suits its largest magnitude; voltages in V against Na⁺/Na.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ecmx.postprocess.labels import run_label
from ecmx.postprocess.plotting import new_figure, save
from ecmx.postprocess.rundata import RunData

PREFIXES = {0: "", -3: "m", -6: "µ", -9: "n", -12: "p", -15: "f"}
"""Engineering prefixes of the current axis, by power of ten."""


def sweep_steps(run: RunData) -> list[int]:
    """The 1-based indices of the run's ``voltage_sweep`` steps (the ``step`` column of its rows)."""
    return [i for i, step in enumerate(run.case.protocol, start=1) if step.step == "voltage_sweep"]


def current_unit(largest_A: float) -> tuple[float, str]:
    """(factor, unit) to draw currents whose largest magnitude is ``largest_A`` [A]: e.g. (1e9, "nA")."""
    power = 3 * math.floor(math.log10(largest_A) / 3) if largest_A > 0.0 else 0
    power = min(max(power, min(PREFIXES)), 0)
    return 10.0**-power, f"{PREFIXES[power]}A"


def cyclic_voltammogram(runs: Sequence[RunData], path: Path) -> Figure | None:
    """Current against cell voltage of every run's voltage sweeps (one line per run and sweep step);
    None, and no file, when no run has a voltage_sweep step."""
    curves = []
    for run in runs:
        ts = run.timeseries
        for index in sweep_steps(run):
            rows = np.asarray(ts["step"]) == index
            if rows.any():
                label = run_label(run.case) + (f", step {index}" if len(sweep_steps(run)) > 1 else "")
                curves.append((np.asarray(ts["voltage_V"])[rows], np.asarray(ts["current_A"])[rows], label))
    if not curves:
        return None
    factor, unit = current_unit(max(float(np.max(np.abs(i), initial=0.0)) for _, i, _ in curves))
    fig = new_figure(figsize=(6, 4.5), layout="tight")
    ax = fig.add_subplot()
    for voltage, current, label in curves:
        ax.plot(voltage, current * factor, label=label)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("cell voltage (V vs Na⁺/Na)")
    ax.set_ylabel(f"current ({unit}; > 0 charge, anodic)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return fig
