"""Test inputs: a small material, electrolyte and sphere-1d case, and a coarse real comparison."""

from __future__ import annotations

from pathlib import Path

import yaml

MATERIAL = {
    "name": "testmat",
    "formula": "Na3V2(PO4)3",
    "density": "3152 kg/m^3",
    "molar_mass": "455.76 g/mol",
    "max_concentration": "20747 mol/m^3",
    "stoichiometry_window": [1 / 3, 1.0],
    "diffusivity": "1e-15 m^2/s",
    "open_circuit_voltage": {"stoichiometry": [0.3, 0.4, 0.9, 1.0], "voltage": [3.9, 3.41, 3.39, 2.3]},
    "exchange_current_density": "1 A/m^2",
    "youngs_modulus": "80 GPa",
    "poissons_ratio": 0.26,
    "chemical_expansion": {"volume_change": 0.0826, "over": [1 / 3, 1.0]},
    "sources": {"all": "test data"},
}

ELECTROLYTE = {
    "name": "test-electrolyte",
    "concentration": "1 mol/L",
    "cation_diffusivity": "2.26e-11 m^2/s",
    "anion_diffusivity": "2.77e-11 m^2/s",
}

CASE = {
    "name": "test-case",
    "material": "mat.yaml",
    "electrolyte": "electrolyte.yaml",
    "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
    "protocol": [{"step": "discharge", "c_rate": 1, "until": {"voltage": "2.5 V", "depth_of_discharge": 1.0}}],
}


ROOT = Path(__file__).resolve().parents[2]


def coarse_comparison(*extra_overrides: str) -> dict:
    """A short, coarse, real NVP vs HE-V comparison spec (3D, snapshot at DOD 0.1)."""
    return {
        "compare": {
            "cases": [str(ROOT / "cases" / "nvp.yaml"), str(ROOT / "cases" / "hev.yaml")],
            "at": {"depth_of_discharge": [0.1]},
            "set": [
                "geometry.mesh.size=0.7 um",
                "geometry.mesh.interface_size=0.35 um",
                "protocol.0.until.depth_of_discharge=0.12",
                "protocol.1.duration=30 s",
                *extra_overrides,
            ],
        },
    }


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
