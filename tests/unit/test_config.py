"""Case schema: units, overrides, base materials, round trip, errors that name file and key."""

from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from support.cases import CASE, write_yaml

from ecmx.solver.config.case import Case, case_from_dict, load_case
from ecmx.solver.config.studies import CompareFile, SweepFile, load_comparison, load_sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.units import to_si


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("5e-11 cm^2/s", "m^2/s", 5e-15),
        ("1 um", "m", 1e-6),
        ("250 nm", "m", 2.5e-7),
        ("25 degC", "K", 298.15),
        ("108.5 mAh/g", "C/kg", 108.5 * 3.6 / 1e-3),
        ("80 GPa", "Pa", 8e10),
        ("1 mol/L", "mol/m^3", 1000.0),
        ("10 min", "s", 600.0),
        ("1e-15", "m^2/s", 1e-15),
        (2.5, "V", 2.5),
    ],
)
def test_units_convert_to_si(text, unit, expected):
    assert math.isclose(to_si(text, unit), expected, rel_tol=1e-12)


def test_wrong_dimension_names_expected_unit():
    with pytest.raises(ValueError, match=r"expected a quantity in m \(dimension \[length\]\), got '3 s'"):
        to_si("3 s", "m")


def test_case_loads_with_units_and_defaults(case_dir):
    case = load_case(case_dir / "case.yaml")
    assert case.material.diffusivity == 1e-15
    assert case.electrolyte.concentration == pytest.approx(1000.0)
    assert case.temperature == 298.15
    assert case.material.capacity_mAh_per_g == pytest.approx(117.6, rel=2e-3)
    assert case.material.partial_molar_volume == pytest.approx(5.97e-6, rel=2e-3)
    lo, hi = case.material.stoichiometry_window
    assert case.initial_stoichiometry() == pytest.approx(lo)  # default: fully charged
    assert case.protocol[0].sign == -1.0


def test_set_overrides_and_base(case_dir):
    case = load_case(
        case_dir / "case.yaml",
        ["material.diffusivity=5e-11 cm^2/s", "geometry.mesh.size=0.05 um", "protocol.0.c_rate=2", "temperature=40 degC"],
    )
    assert case.material.diffusivity == pytest.approx(5e-15)
    assert case.material.youngs_modulus == 8e10  # the rest of the base material is kept
    assert case.geometry.mesh.size == pytest.approx(5e-8)
    assert case.protocol[0].c_rate == 2
    assert case.temperature == pytest.approx(313.15)


def test_inline_material_with_base_file(case_dir):
    data = dict(CASE, material={"base": "mat.yaml", "youngs_modulus": "60 GPa", "name": "soft"})
    case = case_from_dict(data, case_dir / "case.yaml")
    assert case.material.name == "soft"
    assert case.material.youngs_modulus == 6e10
    assert case.material.density == 3152.0


def test_ocv_csv_path_relative_to_file(case_dir):
    (case_dir / "tables").mkdir()
    (case_dir / "tables" / "ocv.csv").write_text("stoichiometry,voltage\n0.3,3.9\n0.5,3.4\n1.0,2.4\n")
    mat = yaml.safe_load((case_dir / "mat.yaml").read_text())
    mat["open_circuit_voltage"] = "tables/ocv.csv"
    write_yaml(case_dir / "mat.yaml", mat)
    case = load_case(case_dir / "case.yaml")
    assert case.material.open_circuit_voltage.voltage == [3.9, 3.4, 2.4]
    assert case.material.ocv_at(0.4) == pytest.approx(3.65)


def test_resolved_case_round_trips(case_dir, tmp_path):
    case = load_case(case_dir / "case.yaml", ["material.diffusivity=3e-15"])
    text = case.to_yaml()
    again = case_from_dict(yaml.safe_load(text))
    assert again.to_dict() == case.to_dict()
    # SI numbers only: no unit strings survive
    assert "m^2/s" not in text and "GPa" not in text and " um" not in text


def test_resolved_case_is_written_by_libyaml_and_reads_back_as_before(case_dir, monkeypatch):
    """Every run writes its case.yaml: with libyaml's emitter (the Python one took 30 ms a case), the
    same data, a long description included."""
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    case = load_case(case_dir / "case.yaml", ["description=" + "µm-sized particle, 25 °C; " * 12])
    python_text = yaml.safe_dump(case.to_dict(), sort_keys=False, width=100)

    def python_emitter(*_args, **_kwargs):
        raise AssertionError("case.yaml written by PyYAML's Python emitter")

    monkeypatch.setattr(yaml.emitter.Emitter, "emit", python_emitter)
    text = case.to_yaml()
    assert yaml.safe_load(text) == yaml.safe_load(python_text) == case.to_dict()
    assert case_from_dict(yaml.safe_load(text)).to_dict() == case.to_dict()


def test_diffusivity_table(case_dir):
    case = load_case(case_dir / "case.yaml", ["material.diffusivity={stoichiometry: [0.3, 1.0], value: [1e-14, 1e-16]}"])
    assert case.material.diffusivity_at(0.65) == pytest.approx(1e-15, rel=1e-9)  # log-interpolated


def _error(case_dir: Path, *overrides: str) -> CaseError:
    with pytest.raises(CaseError) as info:
        load_case(case_dir / "case.yaml", list(overrides))
    return info.value


def test_unknown_key_suggests(case_dir):
    err = _error(case_dir, "geometry.particle.raduis=1 um")
    assert err.key == "geometry.particle.raduis"
    assert "did you mean 'radius'" in str(err)
    assert str(case_dir / "case.yaml") in str(err)


def test_negative_diffusivity(case_dir):
    err = _error(case_dir, "material.diffusivity=-1e-15")
    assert err.key == "material.diffusivity"
    assert "greater than 0" in str(err)


def test_missing_material_file(case_dir):
    err = _error(case_dir, "material=missing.yaml")
    assert err.key == "material"
    assert "missing.yaml" in str(err)


def test_unknown_library_material(case_dir):
    err = _error(case_dir, "material=unobtainium")
    assert "unknown library entry 'unobtainium'" in str(err)


def test_step_without_end_condition(case_dir):
    err = _error(case_dir, "protocol=[{step: discharge, c_rate: 1}]")
    assert err.key == "protocol.0"
    assert "no end condition" in str(err)


def test_step_needs_one_rate(case_dir):
    err = _error(case_dir, "protocol=[{step: charge, c_rate: 1, current: 1 mA, until: {voltage: 4 V}}]")
    assert "exactly one of c_rate, current_density, current" in str(err)


def test_bad_override_syntax(case_dir):
    err = _error(case_dir, "material.diffusivity")
    assert "expected dotted.key=value" in str(err)


def test_sweep_log_space_and_grid(case_dir):
    write_yaml(
        case_dir / "sweep.yaml",
        {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity",
                   "values": {"log_space": [1e-16, 1e-13], "num": 7, "unit": "m^2/s"}}},
    )
    sweep = load_sweep(case_dir / "sweep.yaml")
    ds = [p.case.material.diffusivity for p in sweep.points]
    assert ds[0] == pytest.approx(1e-16) and ds[-1] == pytest.approx(1e-13) and len(ds) == 7
    assert ds[3] == pytest.approx(math.sqrt(1e-16 * 1e-13), rel=1e-9)
    assert len({p.label for p in sweep.points}) == 7

    write_yaml(
        case_dir / "grid.yaml",
        {"sweep": {"base": "case.yaml", "parameters": [
            {"parameter": "material.diffusivity", "values": [1e-15, 1e-14]},
            {"parameter": "geometry.particle.radius", "values": ["0.5 um", "1 um", "2 um"]}]}},
    )
    grid = load_sweep(case_dir / "grid.yaml")
    assert len(grid.points) == 6
    assert {(p.case.material.diffusivity, p.case.geometry.particle.radius) for p in grid.points} == {
        (d, r) for d in (1e-15, 1e-14) for r in (5e-7, 1e-6, 2e-6)
    }


def test_sweep_bad_value_names_point(case_dir):
    write_yaml(case_dir / "sweep.yaml", {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": [1e-15, -1]}})
    with pytest.raises(CaseError, match="greater than 0"):
        load_sweep(case_dir / "sweep.yaml")


def test_comparison_resolves_case_paths(case_dir):
    write_yaml(case_dir / "other.yaml", dict(CASE, name="other-case"))
    write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["case.yaml", "other.yaml"]}, "output": {"directory": "out"}})
    comparison = load_comparison(case_dir / "cmp.yaml")
    assert [c.name for c in comparison.cases] == ["test-case", "other-case"]
    assert comparison.spec.compare.at.depth_of_discharge == [0.1, 0.5, 0.9]


def test_axisymmetric_ellipsoid_must_be_a_spheroid(case_dir):
    err = _error(case_dir, "geometry={kind: axisymmetric-2d, particle: {shape: ellipsoid, semi_axes: [1 um, 0.8 um, 1 um]}}")
    assert err.key == "geometry" and "semi_axes a == b" in str(err)


def _sections(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and every schema class reachable through its fields' annotations."""
    found, todo = set(), [model]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        for field in current.model_fields.values():
            stack = [field.annotation]
            while stack:
                annotation = stack.pop()
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    todo.append(annotation)
                stack.extend(typing.get_args(annotation))
    return found


@pytest.mark.parametrize("model", [Case, SweepFile, CompareFile], ids=lambda m: m.__name__)
def test_every_field_has_a_description(model):
    """The documentation of the case format is generated from the field descriptions (units included)."""
    missing = [f"{section.__name__}.{name}" for section in _sections(model)
               for name, field in section.model_fields.items() if not field.description]
    assert not missing, missing


def _case_with_material(case_dir: Path, material: dict) -> Case:
    return case_from_dict(dict(CASE, material=material), case_dir / "case.yaml")


def test_base_override_replaces_a_chemical_expansion_form(case_dir):
    """The override's form wins: NVP's volume_change (with over) gives way to partial_molar_volume."""
    case = _case_with_material(case_dir, {"base": "nvp", "chemical_expansion": {"partial_molar_volume": 3e-6}})
    expansion = case.material.chemical_expansion
    assert expansion.partial_molar_volume == 3e-6 and expansion.volume_change is None and expansion.over is None
    assert case.material.partial_molar_volume == 3e-6
    assert case.material.youngs_modulus == 8e10  # the rest of NVP is kept
    by_set = load_case(case_dir / "case.yaml", ["material=nvp", "material.chemical_expansion.partial_molar_volume=3e-6"])
    assert by_set.material.chemical_expansion == expansion


def test_base_override_of_a_lattice_material_by_volume_change(case_dir):
    case = _case_with_material(case_dir, {"base": "heo", "chemical_expansion": {"volume_change": 0.02, "over": [0.3, 0.9]}})
    assert case.material.chemical_expansion.lattice is None
    assert case.material.chemical_expansion.volume_change == 0.02


def test_base_override_within_one_form_merges(case_dir):
    """An override that names no form (only 'over') keeps the base's form and changes that key."""
    case = _case_with_material(case_dir, {"base": "mat.yaml", "chemical_expansion": {"over": [0.4, 1.0]}})
    assert case.material.chemical_expansion.volume_change == 0.0826
    assert case.material.chemical_expansion.over == (0.4, 1.0)


def test_base_override_switches_diffusivity_and_ocv_forms(case_dir):
    (case_dir / "ocv.csv").write_text("stoichiometry,voltage\n0.2,3.9\n0.5,3.4\n0.8,2.4\n")
    table = {"stoichiometry": [0.2, 0.8], "value": [1e-14, 1e-16]}
    case = _case_with_material(case_dir, {"base": "nvp", "diffusivity": table, "open_circuit_voltage": "ocv.csv"})
    assert case.material.diffusivity_at(0.5) == pytest.approx(1e-15, rel=1e-9)
    assert case.material.open_circuit_voltage.voltage == [3.9, 3.4, 2.4]
    mat = yaml.safe_load((case_dir / "mat.yaml").read_text())
    write_yaml(case_dir / "csv-mat.yaml", dict(mat, open_circuit_voltage="ocv.csv", diffusivity=table))
    back = _case_with_material(case_dir, {"base": "csv-mat.yaml", "diffusivity": 2e-15,
                                          "open_circuit_voltage": {"stoichiometry": [0.3, 1.0], "voltage": [3.9, 2.4]}})
    assert back.material.diffusivity == 2e-15
    assert back.material.open_circuit_voltage.voltage == [3.9, 2.4]


def test_na_metal_transfer_coefficients_must_sum_to_one(case_dir):
    """The mass-action Na-metal law rests at the Nernst potential only for α_a + α_c = 1."""
    err = _error(case_dir, "electrolyte.counter_electrode.anodic_transfer_coefficient=0.3")
    assert err.file == case_dir / "case.yaml"
    assert err.key == "electrolyte.counter_electrode"
    assert "anodic_transfer_coefficient + cathodic_transfer_coefficient must equal 1" in str(err)
    case = load_case(case_dir / "case.yaml", ["electrolyte.counter_electrode.anodic_transfer_coefficient=0.3",
                                              "electrolyte.counter_electrode.cathodic_transfer_coefficient=0.7"])
    assert case.electrolyte.counter_electrode.cathodic_transfer_coefficient == 0.7


def test_ocv_csv_with_monotone_smoothing(case_dir):
    """``{file: ..., smoothing: monotone}``: a noisy measured OCV becomes monotone (no spurious
    extrema), stays within the noise of the curve, and a clean strictly monotone table is unchanged."""
    import numpy as np

    theta = np.linspace(0.3, 1.0, 400)
    clean = 3.9 - 1.5 * (theta - 0.3) ** 1.5
    noisy = clean + np.random.default_rng(1).normal(0.0, 0.004, theta.size)
    assert np.any(np.diff(noisy) > 0)  # the raw points are not monotone
    lines = "".join(f"{t:.17g},{v:.17g}\n" for t, v in zip(theta, noisy, strict=True))
    (case_dir / "tables").mkdir()
    (case_dir / "tables" / "ocv.csv").write_text("stoichiometry,voltage\n" + lines)
    mat = yaml.safe_load((case_dir / "mat.yaml").read_text())
    mat["open_circuit_voltage"] = {"file": "tables/ocv.csv", "smoothing": "monotone"}
    write_yaml(case_dir / "mat.yaml", mat)
    smoothed = np.array(load_case(case_dir / "case.yaml").material.open_circuit_voltage.voltage)
    assert np.all(np.diff(smoothed) <= 0)
    assert np.max(np.abs(smoothed - clean)) < 0.012  # 3 sigma of the noise
    assert np.sqrt(np.mean((smoothed - clean) ** 2)) < 0.004  # closer to the curve than the points
    mat["open_circuit_voltage"] = {"stoichiometry": theta.tolist(), "voltage": clean.tolist(), "smoothing": "monotone"}
    write_yaml(case_dir / "mat.yaml", mat)
    assert load_case(case_dir / "case.yaml").material.open_circuit_voltage.voltage == pytest.approx(clean, abs=1e-12)
    err = _error(case_dir, "material.open_circuit_voltage.smoothing=spline")
    assert err.key == "material.open_circuit_voltage.smoothing"
