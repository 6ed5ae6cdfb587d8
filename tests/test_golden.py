"""generated/ holds the compiled examples byte for byte; compile() must reproduce them.

To accept new output: CNNDSL_ACCEPT=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

from cnndsl.codegen import compile_source


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_generated_file_is_current(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = compile_source(Path("examples") / example.name)
    golden = ROOT / "generated" / f"{example.stem}.py"
    if os.environ.get("CNNDSL_ACCEPT"):
        golden.write_text(text)
    assert golden.exists(), (
        f"{golden} is missing; to accept the current output, rerun with "
        "CNNDSL_ACCEPT=1 pytest tests/test_golden.py"
    )
    assert text == golden.read_text(), (
        f"{golden.name} differs from the compiler's output; to accept the new output, rerun "
        f"with CNNDSL_ACCEPT=1 pytest tests/test_golden.py -k {example.stem}"
    )
