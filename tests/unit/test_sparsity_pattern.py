"""The CSR pattern of (row, column) pairs behind the pruned Jacobian sparsity (ecmx.solver.fem.sparsity):
each pair once, columns sorted in every row, empty rows kept, whatever the order and repetition of the input."""

from __future__ import annotations

import numpy as np

from ecmx.solver.fem.sparsity import Pattern, _pattern


def _reference(rows: np.ndarray, columns: np.ndarray, n_rows: int) -> tuple[list[int], list[int]]:
    """(indptr, indices) from a plain set of pairs."""
    pairs = sorted(set(zip(rows.tolist(), columns.tolist(), strict=True)))
    indptr = [0] * (n_rows + 1)
    for r, _ in pairs:
        indptr[r + 1] += 1
    return list(np.cumsum(indptr)), [c for _, c in pairs]


def test_pattern_holds_each_pair_once_sorted_by_row_and_column() -> None:
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 40, 2000)
    columns = rng.integers(0, 57, 2000)
    rows[:5] = 39  # the last row, several times
    columns[:5] = [56, 0, 56, 3, 0]
    pattern = _pattern(rows, columns, (45, 57))  # rows 40-44 empty
    indptr, indices = _reference(rows, columns, 45)
    assert pattern.indptr.tolist() == indptr and pattern.indices.tolist() == indices
    assert pattern.rows().tolist() == sorted(r for r, _ in set(zip(rows.tolist(), columns.tolist(), strict=True)))
    assert pattern.indptr[-1] < rows.size  # duplicates were merged


def test_pattern_of_no_pairs_is_empty() -> None:
    pattern = _pattern(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), (3, 3))
    assert isinstance(pattern, Pattern)
    assert pattern.indptr.tolist() == [0, 0, 0, 0] and pattern.indices.size == 0 and pattern.rows().size == 0
