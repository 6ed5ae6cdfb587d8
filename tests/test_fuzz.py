"""Differential fuzzing: whatever `check` accepts, `compile` compiles, and the compiled
model agrees with the checker on every module path, shape and parameter count.

``test_generated_programs`` runs hypothesis-generated programs (``CNNDSL_FUZZ_EXAMPLES``,
default 300); ``test_fixture`` replays the minimal programs in ``tests/fixtures/fuzz``
(saved by ``python tests/fuzzkit/main.py``), each a disagreement found earlier.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # tests/ is not a package (--import-mode=importlib)
    sys.path.insert(0, str(TESTS))

import pytest  # noqa: E402
from fuzzkit.harness import run_program  # noqa: E402
from fuzzkit.strategies import programs  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

pytest.importorskip("torch")

EXAMPLES = int(os.environ.get("CNNDSL_FUZZ_EXAMPLES", "300"))
FIXTURES = sorted((TESTS / "fixtures" / "fuzz").glob("*.cnn"))


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
@given(programs())
def test_generated_programs(source: str) -> None:
    problem = run_program(source)
    assert problem is None, f"{problem}\n--- program ---\n{source}"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    problem = run_program(source)
    assert problem is None, f"{problem}\n--- {path.name} ---\n{source}"
