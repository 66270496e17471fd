"""Run labels of the comparison outputs: one material run in 3D and in a reduced geometry side by side
(cases/nvp-two-phase-vs-hev.yaml: NVP two-phase in sphere-1d and in 3D) gets two labels."""

from __future__ import annotations

from ecmx.postprocess.labels import display_name, run_label
from tests.support.fake_runs import fake_case


def test_reduced_geometries_are_named_and_3d_is_not() -> None:
    labels = {kind: run_label(fake_case("nvp", kind)) for kind in ("particle-in-electrolyte", "sphere-1d", "axisymmetric-2d")}
    assert labels == {"particle-in-electrolyte": "NVP", "sphere-1d": "NVP, sphere-1d", "axisymmetric-2d": "NVP, axisymmetric"}


def test_two_way_coupling_and_the_geometry_both_show() -> None:
    case = fake_case("hev", "sphere-1d")
    case = case.model_copy(update={"mechanics": case.mechanics.model_copy(update={"enabled": True, "coupling": "two-way"})})
    assert run_label(case) == "HE-V, two-way, sphere-1d"


def test_library_names_as_the_papers_write_them() -> None:
    assert [display_name(m) for m in ("nvp", "hev", "nvp-two-phase", "lfp")] == ["NVP", "HE-V", "NVP two-phase", "LFP"]
