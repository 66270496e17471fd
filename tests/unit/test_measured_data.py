"""The measured-data reader (issue 16): columns by name with units in the header, SI values, and
one clear CaseError (file, column, line) for anything a lab export may get wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecmx.solver.config.measured_data import MAX_ROWS, read_measured_curve
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_CSV_BYTES


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_si_names_read_as_given(tmp_path):
    path = write(tmp_path, "time_s,current_A,voltage_V\n0,-1e-3,3.40\n10,-1e-3,3.35\n20,-1e-3,3.30\n")
    curve = read_measured_curve(path, require=("time", "voltage"))
    assert len(curve) == 3
    np.testing.assert_array_equal(curve["time"], [0, 10, 20])
    np.testing.assert_array_equal(curve["current"], [-1e-3] * 3)
    np.testing.assert_array_equal(curve["voltage"], [3.40, 3.35, 3.30])
    assert curve.headers["voltage"] == "voltage_V"


@pytest.mark.parametrize(
    ("header", "quantity", "factor"),
    [
        ("time [h]", "time", 3600.0),
        ("time (min)", "time", 60.0),
        ("voltage (mV)", "voltage", 1e-3),
        ("Voltage [V]", "voltage", 1.0),
        ("current_mA", "current", 1e-3),
        ("capacity_mAh", "capacity", 3.6),
        ("capacity_Ah_per_kg", "specific_capacity", 3600.0),
        ("capacity [mAh/g]", "specific_capacity", 3600.0),
        ("specific_capacity_mAh_per_g", "specific_capacity", 3600.0),
    ],
)
def test_units_in_the_header(tmp_path, header, quantity, factor):
    path = write(tmp_path, f"step,{header},Ewe/V\n1,2.0,7\n1,4.0,7\n")
    curve = read_measured_curve(path)
    assert set(curve.columns) == {quantity}  # 'step' and 'Ewe/V' are not recognised: ignored
    np.testing.assert_allclose(curve[quantity], [2.0 * factor, 4.0 * factor], rtol=1e-14)


def test_comments_blank_lines_and_semicolons(tmp_path):
    path = write(tmp_path, "# exported by a cycler\n\ntime_s;voltage_V\n0;3.4\n# pause\n1;3.3\n\n")
    curve = read_measured_curve(path)
    np.testing.assert_array_equal(curve["voltage"], [3.4, 3.3])


def refused(path: Path, **kwargs) -> str:
    with pytest.raises(CaseError) as info:
        read_measured_curve(path, **kwargs)
    return str(info.value)


def test_missing_required_column_names_it(tmp_path):
    path = write(tmp_path, "time_s,current_A\n0,1\n1,1\n")
    message = refused(path, require=("time", "voltage"))
    assert str(path) in message and "no voltage column" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("time_s,voltage_V\n0,3.4\n1,abc\n", ["line 3", "'voltage'", "finite number", "'abc'"]),
        ("time_s,voltage_V\n0,3.4\n1,nan\n", ["line 3", "finite number"]),
        ("time_s,voltage_V\n0,3.4\n1,inf\n", ["line 3", "finite number"]),
        ("time_s,voltage_V\n0,3.4\n1e400,3.3\n", ["line 3", "'time'", "finite number"]),
        ("time_s,voltage_V\n0,3.4\n2,3.3\n1,3.2\n", ["line 4", "'time'", "strictly increasing"]),
        ("time_s,voltage_V\n0,3.4\n0,3.3\n", ["line 3", "strictly increasing"]),
        ("time_s,voltage_V\n0,3.4\n1\n", ["line 3", "expected 2 values, got 1"]),
        ("time_s,voltage_V\n0,3.4\n", ["1 data row", "at least 2"]),
        ("time [kg],voltage_V\n0,3.4\n1,3.3\n", ["column 'time [kg]'", "not a unit of time"]),
        ("time [10**10**10 s],voltage_V\n0,3.4\n1,3.3\n", ["not a unit of time"]),
        ("time_s,voltage_V,voltage (mV)\n0,3.4,3400\n1,3.3,3300\n", ["both give the voltage"]),
        ("capacity,voltage_V\n0,3.4\n1,3.3\n", ["capacity needs a unit"]),
        ("a,b,c\n1,2,3\n4,5,6\n", ["no recognised column"]),
        ("# only a comment\n\n", ["no header line"]),
    ],
)
def test_bad_content_is_one_clear_error(tmp_path, text, words):
    path = write(tmp_path, text)
    message = refused(path)
    assert message.startswith(str(path))
    for word in words:
        assert word in message


def test_error_names_the_file_and_key_that_named_it(tmp_path):
    data = write(tmp_path, "time_s,voltage_V\n0,3.4\n1,x\n")
    fit_file = tmp_path / "fit.yaml"
    with pytest.raises(CaseError) as info:
        read_measured_curve(data, key="fit.curves.0.file", named_in=fit_file)
    assert info.value.file == fit_file and info.value.key == "fit.curves.0.file"
    assert str(data) in str(info.value) and "line 3" in str(info.value)


def test_too_many_rows_refused(tmp_path):
    rows = "\n".join(f"{i},3.0" for i in range(MAX_ROWS + 1))
    path = write(tmp_path, f"time_s,voltage_V\n{rows}\n")
    assert f"at most {MAX_ROWS}" in refused(path)


def test_huge_file_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"time_s,voltage_V\n")
        fh.truncate(MAX_CSV_BYTES + 1)
    assert "expected at most 10 MiB" in refused(path)


def test_not_a_regular_file_or_missing(tmp_path):
    assert "is a directory" in refused(tmp_path)
    assert "not found" in refused(tmp_path / "absent.csv")
