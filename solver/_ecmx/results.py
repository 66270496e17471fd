"""Results of runs, sweeps and comparisons as pandas DataFrames (``ecmx.load_run`` and friends).

Reads the files a run, sweep or comparison directory holds (``docs/outputs.md``); never imports
DOLFINx. Columns and units are those of the files: times in s, voltages in V, concentrations in
mol/m³, stresses in Pa (tension positive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from ecmx.postprocess.rundata import RunData, Snapshot
from ecmx.postprocess.rundata import load_run as _load_run_data


@dataclass
class Run:
    """One run directory: the resolved case, its time series and probes as DataFrames, its summary."""

    directory: Path
    data: RunData = field(repr=False)
    """The run as the figures and tables read it (numpy arrays, snapshot grids)."""

    @property
    def case(self) -> Any:
        """The resolved :class:`~ecmx.solver.config.Case` the run was made from (SI values)."""
        return self.data.case

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json``: status, key results, versions, wall time, mesh and DOF counts."""
        return self.data.summary

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """``timeseries.csv``: one row per accepted time step (``time_s``, ``voltage_V``, ``c_mean``, …)."""
        return pd.read_csv(self.directory / "timeseries.csv")

    @cached_property
    def probes(self) -> pd.DataFrame:
        """``probes.csv``: one row per probe and time step (empty without probes)."""
        path = self.directory / "probes.csv"
        return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()

    @property
    def snapshots(self) -> list[Snapshot]:
        """The particle fields at each snapshot depth of discharge (pyvista grids, µm)."""
        return self.data.snapshots


def load_run(directory: str | Path) -> Run:
    """Read a run directory (written by ``ecmx run`` or :func:`ecmx.run_case`)."""
    directory = Path(directory).expanduser()
    return Run(directory, _load_run_data(directory))


def load_sweep_results(directory: str | Path) -> pd.DataFrame:
    """A sweep's ``summary.csv``: one row per point (parameter values, status, peak stresses, …)."""
    return pd.read_csv(Path(directory).expanduser() / "summary.csv")


@dataclass
class ComparisonResults:
    """A comparison directory: the table per case and depth of discharge, the ratios, each case's run."""

    directory: Path
    table: pd.DataFrame
    """``table.csv``: concentration spread, peak stresses, capacity per case and depth of discharge."""
    ratios: pd.DataFrame
    """``ratios.csv``: each case against the first (the reference)."""
    runs: dict[str, Run]
    """Each case's run, by case name."""


def load_comparison_results(directory: str | Path) -> ComparisonResults:
    """Read a comparison directory (written by ``ecmx compare`` or :func:`ecmx.run_comparison`)."""
    directory = Path(directory).expanduser()
    table = pd.read_csv(directory / "table.csv")
    names = list(dict.fromkeys(table["case"])) if "case" in table else []
    runs = {name: load_run(directory / name) for name in names if (directory / name / "case.yaml").is_file()}
    return ComparisonResults(directory, table, pd.read_csv(directory / "ratios.csv"), runs)
