"""The comparison's built-in sensitivity study: how the headline result moves with its assumed inputs.

For a comparison of two materials (the first case, e.g. NVP, against the last, e.g. HE-V), the
study runs fast sphere-1d variants of both cases, each cut to its first discharge step and ending at
``compare.sensitivity.depth_of_discharge``, along four axes, one input changed at a time:

- ``diffusivity``: D_s of the first case [m²/s], the last case's D_s keeping its shipped ratio;
- ``diffusivity_ratio``: D_s(last)/D_s(first), the first case as shipped;
- ``radius``: the particle radius of both cases [m];
- ``current``: the other current basis (the common ``specific_current`` when the comparison runs each
  material at its own C-rate, and the reverse): the like-for-like point.

The runs go into ``<comparison dir>/sensitivity/<run name>/`` and run in the comparison's worker
pool with its cases; ``comparison.json`` lists the points (axis, value, the run of each material),
and :mod:`ecmx.postprocess.sensitivity` reads them back into ``sensitivity.csv`` and its figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecmx.solver.config.case import Case, Snapshots
from ecmx.solver.config.studies import Comparison, SensitivitySpec
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.variants import (
    PlannedRun,
    first_discharge_index,
    own_rate_overrides,
    specific_current_overrides,
    variant,
)

DIRECTORY = "sensitivity"
"""The sub-directory of the comparison directory that holds the sensitivity runs."""

ROLES = ("numerator", "denominator")


def _shipped_diffusivity(case: Case, file: Path) -> float:
    if not isinstance(case.material.diffusivity, float):
        raise CaseError("the sensitivity study needs a constant material.diffusivity (this case tabulates D(θ)); "
                        "turn it off with compare.sensitivity.enabled: false", file=file, key="material.diffusivity")
    return case.material.diffusivity


def _cut(case: Case, file: Path, dod: float) -> Case:
    """The case as a sensitivity run: its first discharge step only, ending at ``dod``; no snapshots,
    probes or field series beyond the first write (the timeseries carries what is read back)."""
    case = case.model_copy(deep=True)
    step = case.protocol[first_discharge_index(case, file)]
    step = step.model_copy(update={"until": step.until.model_copy(update={"depth_of_discharge": dod})})
    case.protocol = [step]
    case.output.snapshots = Snapshots(depth_of_discharge=[])
    case.output.probes = []
    case.output.fields_every = 1_000_000
    return case


class _Planner:
    """Builds the runs of the study, each distinct (material, overrides) once."""

    def __init__(self, study: Comparison, spec: SensitivitySpec):
        self.study, self.spec = study, spec
        self.files = (study.case_paths[0], study.case_paths[-1])
        self.shipped = (study.cases[0], study.cases[-1])
        self.runs: dict[tuple[int, tuple[str, ...]], PlannedRun] = {}
        compare = study.spec.compare
        self.current: tuple[list[str], list[str]] = ([], [])
        if compare.current == "same-specific-current":
            self.current = tuple(specific_current_overrides(c, compare.specific_current) for c in self.shipped)  # type: ignore[assignment]

    def run(self, role: int, overrides: Sequence[str], tag: str) -> str:
        """The name of the run of material ``role`` (0 first, 1 last) with ``overrides``."""
        key = (role, tuple(overrides))
        if key not in self.runs:
            name = f"s-{self.shipped[role].name}-{tag}"[:80]
            base = ["geometry.kind=sphere-1d", *self.study.spec.compare.set, *self.current[role]]
            case = variant(self.files[role], base, [*overrides, f"name={name}"], f"sensitivity run {name}")
            self.runs[key] = PlannedRun(_cut(case, self.files[role], self.spec.depth_of_discharge), self.files[role],
                                        {"role": ROLES[role]})
        return self.runs[key].name

    def point(self, axis: str, value: Any, overrides: tuple[Sequence[str], Sequence[str]], tag: str,
              shipped: bool) -> dict[str, Any]:
        names = [self.run(role, overrides[role], tag if overrides[role] else "shipped") for role in (0, 1)]
        return {"axis": axis, "value": value, "shipped": shipped, "runs": dict(zip(ROLES, names, strict=True))}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def sensitivity_plan(study: Comparison) -> tuple[list[PlannedRun], dict[str, Any]]:
    """The sensitivity runs and the manifest entry that lists the points (empty when off).

    Raises:
        CaseError: a variant does not validate, or a case cannot be varied (tabulated D_s, no
            current-controlled discharge); nothing has been written.
    """
    spec = study.spec.compare.sensitivity
    if spec is None or not spec.enabled or len(study.cases) < 2:
        return [], {}
    plan = _Planner(study, spec)
    d_num = _shipped_diffusivity(plan.shipped[0], plan.files[0])
    d_den = _shipped_diffusivity(plan.shipped[1], plan.files[1])
    ratio = d_den / d_num
    points = [plan.point("shipped", None, ((), ()), "shipped", True)]
    for d in spec.diffusivity:
        shipped = _close(d, d_num)
        over = ((), ()) if shipped else ((f"material.diffusivity={d:.6g}",), (f"material.diffusivity={d * ratio:.6g}",))
        points.append(plan.point("diffusivity", d, over, f"D{d:.3g}", shipped))
    for q in spec.diffusivity_ratio:
        shipped = _close(q, ratio)
        over = ((), ()) if shipped else ((), (f"material.diffusivity={q * d_num:.6g}",))
        points.append(plan.point("diffusivity_ratio", q, over, f"Dx{q * d_num:.3g}", shipped))
    radii = [case.geometry.particle.radius for case in plan.shipped]
    for r in spec.radius:
        shipped = _close(r, radii[0]) and _close(r, radii[1])
        over = ((), ()) if shipped else ((f"geometry.particle.radius={r:.6g}",),) * 2
        points.append(plan.point("radius", r, over, f"R{r:.3g}", shipped))
    points.append(_current_point(plan, study))
    manifest = {
        "depth_of_discharge": spec.depth_of_discharge,
        "heterogeneous": spec.heterogeneous,
        "uniform": spec.uniform,
        "cases": [c.name for c in plan.shipped],
        "points": points,
        "runs": {run.name: f"{DIRECTORY}/{run.name}" for run in plan.runs.values()},
    }
    return list(plan.runs.values()), manifest


def _current_point(plan: _Planner, study: Comparison) -> dict[str, Any]:
    """The like-for-like point: both materials at the other current basis than the comparison's."""
    compare = study.spec.compare
    if compare.current == "own-c-rate":
        over = tuple(tuple(specific_current_overrides(case, compare.specific_current)) for case in plan.shipped)
        value = f"{compare.specific_current:g} mA/g"
    else:
        over = tuple(tuple(own_rate_overrides(case)) for case in plan.shipped)
        value = "own C-rate"
    return plan.point("current", value, over, "I" + value.replace(" ", "").replace("/", "per"), False)
