"""ecmx.postprocess.slices: the radial profiles of several quantities sampled at once are those of
each alone, on synthetic runs (tests/support/fake_runs.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.fake_runs import fake_case, write_fake_run

from ecmx.postprocess.rundata import load_run
from ecmx.postprocess.slices import radial_profile, radial_profiles

QUANTITIES = ["concentration", "radial_stress", "tangential_stress", "von_mises"]


@pytest.mark.parametrize("kind", ["particle-in-electrolyte", "sphere-1d"])
def test_profiles_sampled_together_are_each_profile_alone(tmp_path: Path, kind: str) -> None:
    snap = load_run(write_fake_run(tmp_path / "run", fake_case("nvp", kind))).snapshot_at(0.5)
    together = radial_profiles(snap, QUANTITIES)
    assert list(together) == QUANTITIES
    for quantity in QUANTITIES:
        alone = radial_profile(snap, quantity)
        assert set(together[quantity]) == {"x", "mean", "min", "max"}
        for key, values in alone.items():
            assert np.array_equal(together[quantity][key], values, equal_nan=True), (quantity, key)
    stresses = [together[q]["mean"] for q in QUANTITIES[1:]]
    assert not np.allclose(stresses[0], stresses[1])  # each quantity its own array, not one copied
