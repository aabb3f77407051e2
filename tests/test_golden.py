"""Behaviour kept bit for bit: the golden table of ``golden_cases.py`` (see its docstring)."""

import json

import pytest

from golden_cases import TABLE, compute


@pytest.mark.slow
def test_outputs_match_the_golden_table(tmp_path):
    expected = json.loads(TABLE.read_text())
    got = compute(tmp_path)
    # bit-identical: the same code path, the same float operations, the same order
    assert got == expected
