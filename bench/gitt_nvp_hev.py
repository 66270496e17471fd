"""A simulated GITT of NVP and HE-V (library materials, sphere-1d, R = 1 µm) analysed both ways.

    .venv/bin/python bench/gitt_nvp_hev.py [--out results/gitt-nvp-hev] [--pulses 6]

For each material: a GITT discharge from the charged end of its window (C/5 pulses of 10 min, 2 h
rests) simulated with ``ecmx run``, then ``ecmx gitt`` on the run directory (Weppner–Huggins with
V/S = R/3 and the sphere-1d model fit, whose OCV is the material's: on NVP's kinked plateau a table
through the relaxed points of 10 min pulses misses the shoulder at θ = 0.3 and the first pulses).
Writes the run and analysis directories and
``gitt_nvp_hev.png``/``.pdf`` (D against θ, one panel per material, with the simulation's D), and
prints D_WH/D and D_model/D per pulse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ecmx.postprocess.gitt_plots import draw_diffusivity
from ecmx.postprocess.plotting import new_figure, save
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.studies.gitt.analysis import GittSettings, analyse, read_record, write_outputs
from ecmx.solver.studies.run import run_case

LABELS = {"nvp": "NVP", "hev": "HE-V"}


def gitt_case(material: str, pulses: int) -> dict:
    return {"name": f"gitt-{material}", "material": material, "electrolyte": "naclo4-ec-pc",
            "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 40}},
            "initial": {"state_of_charge": 0.95}, "mechanics": {"enabled": False},
            "protocol": [{"step": "gitt", "c_rate": 0.2, "duration": "10 min", "rest_duration": "2 h",
                          "repeat": pulses, "direction": "discharge"}]}


def one(material: str, out: Path, pulses: int) -> tuple[list[dict], tuple[list[float], list[float]]]:
    """Simulate and analyse one material; the diffusivity rows and its true D(θ)."""
    case = case_from_dict(gitt_case(material, pulses))
    run = run_case(case, out_dir=out / f"run-{material}", progress=False, overwrite=True)
    record, run_data = read_record(run.directory)
    result = analyse(record, GittSettings(run_data, ocv="material"), run_data)
    directory = out / f"gitt-{material}"
    directory.mkdir(parents=True, exist_ok=True)
    write_outputs(result, directory, title=f"GITT of {LABELS[material]}")
    rows = result.rows()
    theta = np.linspace(*case.material.stoichiometry_window, 50)
    truth = case.material.diffusivity_at(theta)
    for r in rows:
        d = float(case.material.diffusivity_at(r["stoichiometry"]))
        tau = d * 600.0 / 1e-12
        print(f"{LABELS[material]:5s} theta {r['stoichiometry']:.4f}  tau {tau:.3g}  D_WH/D {r['D_weppner_huggins_m2_s'] / d:.3f}"
              f"  D_model/D {r['D_model_m2_s'] / d:.4f}  [{r['D_low'] / d:.4f}, {r['D_high'] / d:.4f}]")
    return rows, (list(theta), list(truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/gitt-nvp-hev"))
    parser.add_argument("--pulses", type=int, default=6)
    args = parser.parse_args()
    fig = new_figure(figsize=(10.0, 4.2), layout="constrained")
    for k, material in enumerate(("nvp", "hev")):
        rows, truth = one(material, args.out, args.pulses)
        tau = float(truth[1][0]) * 600.0 / 1e-12
        draw_diffusivity(fig.add_subplot(1, 2, k + 1), rows, f"{LABELS[material]}: 10 min pulses, Dτ/R² = {tau:.2g}",
                         truth)
    paths = save(fig, args.out / "gitt_nvp_hev.png")
    print("figure:", ", ".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
