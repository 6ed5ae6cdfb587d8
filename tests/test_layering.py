"""The package's imports point down the stage order of docs/architecture.md.

Every import in ``cnndsl/`` is read from the source, including those inside functions and
under ``TYPE_CHECKING``, and resolved to the stage of the imported module (the top-level
module, or the sub-package); an import of a later stage is an error. Modules of one
sub-package may import each other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "cnndsl"
DOC = ROOT / "docs" / "architecture.md"


def stage_order(doc: Path = DOC) -> dict[str, int]:
    """Stage -> rank, from the numbered list under the doc's "## Stage order" heading."""
    text = doc.read_text(encoding="utf-8").split("## Stage order", 1)[1].split("\n## ", 1)[0]
    order: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(\d+)\. (.*)$", line)
        if m:
            for name in re.findall(r"`([^`]+)`", m.group(2).split(" — ")[0]):
                order[name] = int(m.group(1))
    return order


def stage(module: str) -> str:
    """``cnndsl.codegen.files`` -> ``codegen``; ``cnndsl`` -> ``cnndsl``; a name imported
    from the package itself (``from cnndsl import load``) is the package's."""
    parts = module.split(".")
    if len(parts) == 1:
        return parts[0]
    exists = (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()
    return parts[1] if exists else parts[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of a cnndsl module in the file."""
    rel = path.relative_to(root).with_suffix("").parts
    package = list(rel[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1])
            if node.module:
                out.append((node.lineno, f"{base}.{node.module}"))
            else:
                out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in out if m.split(".")[0] == "cnndsl"]


def upward_edges(package: Path, order: dict[str, int]) -> list[str]:
    bad = []
    for path in sorted(package.rglob("*.py")):
        me = stage(module_name(path, package.parent))
        for line, target in imports(path, package.parent):
            other = stage(target)
            if other != me and order[other] > order[me]:
                rel = path.relative_to(package.parent)
                bad.append(f"{rel}:{line}: {me} imports {target}, a later stage")
    return bad


def test_the_stage_order_names_every_module() -> None:
    order = stage_order()
    present = {stage(module_name(p, ROOT)) for p in PACKAGE.rglob("*.py")}
    assert present <= set(order), sorted(present - set(order))


def test_imports_point_down_the_stage_order() -> None:
    bad = upward_edges(PACKAGE, stage_order())
    assert not bad, "\n".join(bad)


def test_an_upward_edge_is_found(tmp_path: Path) -> None:
    """The check can fail: the IR importing the code generator inside a function."""
    copy = tmp_path / "cnndsl"
    copy.mkdir()
    (copy / "__init__.py").write_text("", encoding="utf-8")
    ir = (PACKAGE / "ir.py").read_text(encoding="utf-8")
    (copy / "ir.py").write_text(ir + "\n\ndef f():\n    from .codegen import files\n")
    bad = upward_edges(copy, stage_order())
    assert len(bad) == 1 and "ir imports cnndsl.codegen" in bad[0], bad
