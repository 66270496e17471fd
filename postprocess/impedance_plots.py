"""Figures of an impedance spectrum (``impedance.csv`` of ``ecmx impedance``), per unit particle area:

- ``nyquist.png``: −Im Z against Re Z [Ω m²], equal axes (a semicircle looks like one), points
  coloured by log₁₀ f;
- ``bode.png``: |Z| [Ω m²] (log-log) and the phase arg Z [°] against f [Hz].

Sign convention: Z = δV/δI with I anodic positive (charge), so Re Z > 0 and −Im Z ≥ 0 for a
passive interface. Each PNG has a PDF copy beside it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ecmx.postprocess.plotting import colour_scale, new_figure, save


def read_impedance(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(f [Hz], Z per unit particle area [Ω m²], complex) from ``impedance.csv``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    f = np.array([float(r["frequency_Hz"]) for r in rows])
    z = np.array([complex(float(r["Z_real_Ohm_m2"]), float(r["Z_imag_Ohm_m2"])) for r in rows])
    return f, z


def plot_nyquist(f: np.ndarray, z: np.ndarray, path: Path, title: str = "") -> Path:
    """The Nyquist plot −Im Z vs Re Z [Ω m²] at ``path`` (PNG + PDF); returns the PNG path."""
    fig = new_figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    ax.plot(z.real, -z.imag, "-", color="0.6", lw=1)
    scale = colour_scale(float(np.log10(f.min())), float(np.log10(f.max())), "viridis")
    ax.scatter(z.real, -z.imag, c=np.log10(f), cmap=scale.cmap, norm=scale.norm, s=14, zorder=3)
    fig.colorbar(scale, ax=ax, label="log$_{10}$ f (Hz)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re Z (Ω m²)")
    ax.set_ylabel("−Im Z (Ω m²)")
    ax.set_title(title or "Nyquist (per unit particle area)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save(fig, path, dpi=150)[0]


def plot_bode(f: np.ndarray, z: np.ndarray, path: Path, title: str = "") -> Path:
    """The Bode plot (|Z| [Ω m²] and arg Z [°] against f) at ``path`` (PNG + PDF); returns the PNG path."""
    fig = new_figure(figsize=(5.5, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.loglog(f, np.abs(z), "o-", ms=3)
    top.set_ylabel("|Z| (Ω m²)")
    top.set_title(title or "Bode (per unit particle area)", fontsize="medium")
    bottom.semilogx(f, np.degrees(np.angle(z)), "o-", ms=3)
    bottom.set_ylabel("arg Z (°)")
    bottom.set_xlabel("frequency f (Hz)")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return save(fig, path, dpi=150)[0]


def plot_impedance(csv_path: str | Path, out_dir: str | Path, title: str = "") -> list[Path]:
    """``nyquist.png`` and ``bode.png`` (with PDF copies) of ``impedance.csv`` in ``out_dir``."""
    f, z = read_impedance(csv_path)
    out = Path(out_dir)
    return [plot_nyquist(f, z, out / "nyquist.png", title), plot_bode(f, z, out / "bode.png", title)]


def read_impedance_by_state(path: str | Path) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """{state of charge: (f [Hz], Z per unit particle area [Ω m²])} from ``impedance_by_state.csv``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    states: dict[float, list[dict[str, str]]] = {}
    for row in rows:
        states.setdefault(float(row["state_of_charge"]), []).append(row)
    return {soc: (np.array([float(r["frequency_Hz"]) for r in group]),
                  np.array([complex(float(r["Z_real_Ohm_m2"]), float(r["Z_imag_Ohm_m2"])) for r in group]))
            for soc, group in states.items()}


def plot_impedance_states(csv_path: str | Path, out_dir: str | Path, title: str = "") -> list[Path]:
    """``nyquist.png`` and ``bode.png`` (with PDF copies) of ``impedance_by_state.csv`` in ``out_dir``:
    one curve per state of charge, coloured by it."""
    spectra = read_impedance_by_state(csv_path)
    scale = colour_scale(0.0, 1.0, "plasma")
    out = Path(out_dir)
    nyquist = new_figure(figsize=(5.5, 4.5))
    ax = nyquist.add_subplot()
    bode = new_figure(figsize=(5.5, 6.0))
    top, bottom = bode.subplots(2, 1, sharex=True)
    for soc, (f, z) in spectra.items():
        colour = scale.cmap(scale.norm(soc))
        ax.plot(z.real, -z.imag, "o-", ms=3, color=colour, label=f"SOC {soc:g}")
        top.loglog(f, np.abs(z), "o-", ms=3, color=colour, label=f"SOC {soc:g}")
        bottom.semilogx(f, np.degrees(np.angle(z)), "o-", ms=3, color=colour)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(xlabel="Re Z (Ω m²)", ylabel="−Im Z (Ω m²)")
    ax.set_title(f"{title}: Nyquist (per unit particle area)" if title else "Nyquist", fontsize="medium")
    top.set_ylabel("|Z| (Ω m²)")
    top.set_title(f"{title}: Bode (per unit particle area)" if title else "Bode", fontsize="medium")
    bottom.set(xlabel="frequency f (Hz)", ylabel="arg Z (°)")
    for axes in (ax, top, bottom):
        axes.grid(True, which="both", alpha=0.3)
    for axes in (ax, top):
        axes.legend(fontsize="small")
    nyquist.tight_layout()
    bode.tight_layout()
    return [save(nyquist, out / "nyquist.png", dpi=150)[0], save(bode, out / "bode.png", dpi=150)[0]]
