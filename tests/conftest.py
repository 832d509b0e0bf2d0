"""Fixtures shared by more than one package's tests. A module that defines a fixture of the
same name (test_slashing's `chain`, for one) uses its own."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.chainkit import ContractChain, make_genesis


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ContractChain]:
    """A fresh one-validator chain with chainkit's default genesis."""
    c = ContractChain(tmp_path / "chain", make_genesis())
    yield c
    c.close()
