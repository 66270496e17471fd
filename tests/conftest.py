"""Shared fixtures: small case files written into a temporary directory, one mesh cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cases import CASE, ELECTROLYTE, MATERIAL, write_yaml


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """A directory with mat.yaml, electrolyte.yaml and case.yaml (a sphere-1d 1C discharge)."""
    write_yaml(tmp_path / "mat.yaml", MATERIAL)
    write_yaml(tmp_path / "electrolyte.yaml", ELECTROLYTE)
    write_yaml(tmp_path / "case.yaml", CASE)
    return tmp_path



@pytest.fixture(scope="session")
def mesh_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mesh cache directory for the whole test session."""
    return tmp_path_factory.mktemp("mesh-cache")
