"""The second step after a restart (issue 14): the first step has no error estimate, so the second
repeats its size instead of doubling it (doubled, it was rejected at both restarts of cases/hev.yaml)."""

from __future__ import annotations

import pytest
from test_run_driver import make_case, run

from ecmx.solver.timeloop.stepping import StepController


def test_a_step_without_an_estimate_is_not_grown():
    c = StepController(initial=0.1, maximum=100.0, minimum=1e-6)
    c.accepted(0.1, 0.0, 1, estimated=False)
    assert c.dt == pytest.approx(0.1)
    c.accepted(0.1, 0.0, 1)  # an estimated step with a zero error grows by the BDF2 ratio limit
    assert c.dt == pytest.approx(0.2)


def test_each_segment_takes_its_first_two_steps_at_the_initial_step():
    case = make_case([{"step": "discharge", "c_rate": 1, "duration": "600 s"},
                      {"step": "rest", "duration": "600 s"}], solver={"time_step": {"initial": "0.05 s"}})
    _, log, _ = run(case)
    for segment in (1, 2):
        rows = [r for r in log.records if r.step == segment]
        assert [r.dt_s for r in rows[:2]] == pytest.approx([0.05, 0.05])
        assert rows[2].dt_s > 0.05  # growth resumes once the step has an estimate
