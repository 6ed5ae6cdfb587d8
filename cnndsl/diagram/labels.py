"""One label style for diagrams and tables.

* A layer reads like the papers: ``conv 7×7, 64, /2``, ``maxpool 3×3, /2``, ``fc 1000``.
  Up-sampling reads ``×2`` (``deconv 2×2, 64, ×2``, ``upsample ×2``). A 1-D kernel is
  written ``k80`` (``conv k80, 32, /16``: a bare number would read as a channel count); a
  3-D one ``3×3×3``.
* A block call reads like the call in the ``.cnn`` file, with the arguments the file
  writes (``SE(4)`` even where 4 is the default), and kernel, stride and padding
  parameters in the layers' style: ``BasicConv2d(64, 7×7, /2)`` for
  ``BasicConv2d(64, 7, stride=2, padding=3)`` (a parameter named ``k``, ``kernel`` or
  ``kernel_size`` is a kernel; ``s``/``stride`` a stride, shown when not 1; ``pad``,
  ``padding`` are left out).
* A collapsed group says what is inside: ``1×1, 96 → 3×3, 128`` for two convolutions,
  ``BasicBlock(64) ×2`` for a run of calls, ``dense ×6, +32 ch each`` for DenseNet layers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import ir
from ..expr import show_value
from ..ops import lookup
from ..text import size_text

KERNEL_PARAMS = frozenset({"k", "kernel", "kernel_size", "ksize"})
STRIDE_PARAMS = frozenset({"s", "stride"})
PAD_PARAMS = frozenset({"p", "pad", "padding"})
_QUIET = frozenset({"norm", "act", "dropout", "reshape"})  # left out of a summary
_MAX_ITEMS = 3


def kernel_text(kernel: tuple[int, ...] | int, rank: int) -> str:
    """``3×3`` in 2-D, ``k80`` in 1-D, ``3×3×3`` in 3-D (an int is a square kernel).

    >>> kernel_text(7, 2), kernel_text((80,), 1), kernel_text(3, 3)
    ('7×7', 'k80', '3×3×3')
    """
    if isinstance(kernel, int):
        kernel = (kernel,) * max(rank, 1)
    text = size_text(kernel)
    return f"k{text}" if len(kernel) == 1 else text


def layer_text(node: ir.Layer) -> str:
    """The paper-style label of a layer."""
    op = lookup(node.op)
    if op is None:
        return node.op
    a = node.args
    text = op.describe(a)  # type: ignore[arg-type]
    if node.op.startswith("adaptive_"):  # adaptive_avgpool → 1×1: global avgpool
        kind = node.op.removeprefix("adaptive_")
        size = a.get("size")
        if isinstance(size, tuple) and all(v == 1 for v in size):
            return f"global {kind}"
        return text.replace(node.op, f"adaptive {kind}", 1)
    kernel = a.get("kernel")
    if isinstance(kernel, tuple) and len(kernel) == 1:
        plain = size_text(kernel)
        text = re.sub(rf"(?<=[a-z] ){re.escape(plain)}\b", f"k{plain}", text, count=1)
    if getattr(op, "transposed", False) or node.op == "deconv":
        stride = a.get("stride")
        if isinstance(stride, tuple) and any(s != 1 for s in stride):
            up = str(stride[0]) if len(set(stride)) == 1 else size_text(stride)
            text = re.sub(r", /[0-9×]+", f", ×{up}", text, count=1)
    return text


def short_text(node: ir.Layer) -> str:
    """A layer inside a summary: convolutions without their op name (``1×1, 96``)."""
    text = layer_text(node)
    return text[5:] if text.startswith("conv ") and "×" in text.split(",")[0] else text


# ---------------------------------------------------------------- block calls
@lru_cache(maxsize=32)
def _source_lines(file: str) -> tuple[str, ...]:
    try:
        path = Path(file)
        if not path.is_file() or path.stat().st_size > 16 * 2**20:
            return ()
        return tuple(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError, ValueError):
        return ()


def _span_text(span: Any) -> str | None:
    """The source text of a span, when its file can be read (None for stdin and strings)."""
    lines = _source_lines(span.file) if span is not None else ()
    if not lines or span.line < 1 or span.end_line > len(lines):
        return None
    if span.line == span.end_line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    parts = [lines[span.line - 1][span.column - 1 :]]
    parts += lines[span.line : span.end_line - 1]
    parts.append(lines[span.end_line - 1][: span.end_column - 1])
    return " ".join(p.strip() for p in parts)


def _split_args(text: str) -> list[str] | None:
    """The top-level arguments of ``Name(a, b, key=c)``; None if it is not a call."""
    start = text.find("(")
    if start < 0 or not text.rstrip().endswith(")"):
        return None
    inner = text[start + 1 : text.rstrip().rfind(")")]
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _written(node: ir.Module) -> list[tuple[str | None, str]]:
    """The parameters the call writes, in order: (None, name) by position, (key, name)."""
    names = [n for n, _ in node.values]
    args = None
    text = _span_text(node.span)
    if text is not None and node.block and text.lstrip().startswith(node.block):
        args = _split_args(text)
    if args is None:
        args = _split_args(node.title) or []
    out: list[tuple[str | None, str]] = []
    pos = 0
    for arg in args:
        m = re.match(r"^([A-Za-z_]\w*)\s*=(?!=)", arg)
        if m and m[1] in names:
            out.append((m[1], m[1]))
        elif pos < len(names):
            out.append((None, names[pos]))
            pos += 1
    return out


def call_text(node: ir.Module) -> str:
    """A block call in one label style: ``BasicConv2d(64, 7×7, /2)``, ``SE(4)``."""
    if node.kind != "block" or not node.block:
        return node.title
    values = dict(node.values)
    rank = max(len(node.in_shape) - 1, 1)
    shown = []
    for key, name in _written(node):
        v = values[name]
        low = name.lower()
        if low in PAD_PARAMS:
            continue
        if low in STRIDE_PARAMS and isinstance(v, (int, tuple)):
            strides = v if isinstance(v, tuple) else (v,)
            if all(s == 1 for s in strides):
                continue
            shown.append("/" + (str(strides[0]) if len(set(strides)) == 1 else size_text(strides)))
            continue
        if low in KERNEL_PARAMS and isinstance(v, (int, tuple)):
            shown.append(kernel_text(v, rank))
            continue
        shown.append(show_value(v) if key is None else f"{key}={show_value(v)}")
    return f"{node.block}({', '.join(shown)})"


# ---------------------------------------------------------------- what is inside
def dense_growth(node: ir.Node) -> int | None:
    """The channels a DenseNet layer adds: a concat of the identity and one branch (or a
    block whose body is just that); None for anything else."""
    if isinstance(node, ir.Module) and len(node.body) == 1:
        node = node.body[0]
    if (
        isinstance(node, ir.Merge)
        and node.kind == "concat"
        and len(node.branches) == 2
        and sum(1 for b in node.branches if not b) == 1
        and len(node.in_shape) >= 2
    ):
        return node.out_shape[0] - node.in_shape[0]
    return None


def dense_text(count: int, growth: int) -> str:
    return f"dense ×{count}, +{growth} ch each" if count > 1 else f"dense, +{growth} ch"


def _items(body: tuple[ir.Node, ...]) -> list[str] | None:
    """Summary items of a body; None when it holds something a summary cannot say."""
    out: list[str] = []
    runs: list[tuple[str, int]] = []
    for n in body:
        if isinstance(n, ir.Layer):
            op = lookup(n.op)
            if op is not None and op.category in _QUIET:
                continue
            runs.append((short_text(n), 1))
        elif isinstance(n, ir.Module):
            if n.kind == "block":
                # a call that is one layer (BasicConv2d: conv, bn, relu) reads as that layer
                loud = [
                    m
                    for m in n.body
                    if not isinstance(m, ir.Layer)
                    or (lookup(m.op) is not None and lookup(m.op).category not in _QUIET)  # type: ignore[union-attr]
                ]
                if len(loud) == 1 and isinstance(loud[0], ir.Layer):
                    text = short_text(loud[0])
                else:
                    text = call_text(n)
                if runs and runs[-1][0] == text:
                    runs[-1] = (text, runs[-1][1] + 1)
                else:
                    runs.append((text, 1))
            else:
                inner = _items(n.body)
                if inner is None:
                    return None
                runs.extend((t, 1) for t in inner)
        elif isinstance(n, ir.Merge):
            ways = len(n.branches)
            what = "residual" if n.residual else f"{n.kind} of {ways}"
            runs.append((what, 1))
        elif isinstance(n, (ir.Bind, ir.Use, ir.MergeRefs, ir.Output)):
            return None
    for text, k in runs:
        out.append(text if k == 1 else f"{text} ×{k}")
    return out


def contents(node: ir.Node, count: int = 1) -> str | None:
    """What a collapsed module holds, in one short line; None when that would not help."""
    if isinstance(node, ir.Module) and node.kind == "block":
        growth = dense_growth(node)  # a block call says its arguments; a dense one more
        return dense_text(count, growth) if growth is not None else _dense_body(node)
    body: tuple[ir.Node, ...]
    if isinstance(node, ir.Module):
        body = node.body
    elif isinstance(node, ir.Merge):
        if node.container and len(node.branches) > 1:
            return f"{node.kind} of {len(node.branches)} branches"
        body = tuple(n for b in node.branches for n in b)
    else:
        return None
    growths = [dense_growth(n) for n in body]
    if body and all(g is not None for g in growths) and len(set(growths)) == 1:
        return dense_text(len(body), growths[0])  # type: ignore[arg-type]
    items = _items(body)
    if not items or len(items) > _MAX_ITEMS:
        return None
    return " → ".join(items)


def _dense_body(node: ir.Module) -> str | None:
    growths = [dense_growth(n) for n in node.body]
    if node.body and all(g is not None for g in growths) and len(set(growths)) == 1:
        return dense_text(len(node.body), growths[0])  # type: ignore[arg-type]
    return None
