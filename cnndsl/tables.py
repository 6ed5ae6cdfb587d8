"""Layer tables: plain text, Markdown, LaTeX (booktabs), CSV and the JSON contract.

Rows come from the module tree: one per module path, blocks and groups carrying the totals
of their children; ``depth`` folds deeper rows into their parents.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from . import ir
from .ops import lookup
from .shapes import Analysis
from .text import human, size_text


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a layer table."""

    path: str
    depth: int
    kind: str  # layer, block, group, merge
    op: str  # op name, block title, "sequential", "concat"…
    detail: str  # paper-style description: conv 3×3, 64, /2
    kernel: str  # kernel/stride: 3×3/2
    line: int
    output: ir.Shape
    params: int
    macs: int
    rf: tuple[float, ...] | None
    jump: tuple[float, ...] | None
    label: str = ""  # the diagrams' label style: conv k80, 32, /16; BasicConv2d(64, 7×7, /2)


def rows(analysis: Analysis, depth: int | None = None) -> list[Row]:
    """Rows of the module tree, parents first; ``depth`` N keeps paths of at most N parts."""
    out = []
    for path, node in analysis.network.modules():
        d = path.count(".") + 1
        if depth is not None and d > depth:
            continue
        st = analysis.node(node)
        kind, op, detail, kernel = _describe(node)
        out.append(
            Row(
                path,
                d,
                kind,
                op,
                detail,
                kernel,
                node.span.line,
                st.shape,
                st.params,
                st.macs,
                st.rf,
                st.jump,
                _label(node, detail),
            )
        )
    return out


def _label(node: ir.Node, detail: str) -> str:
    """A row in the diagrams' style: paper-style layers, block calls as written, and for a
    group what it holds (``BasicBlock(64) ×2``)."""
    from .diagram.labels import call_text, contents, layer_text

    if isinstance(node, ir.Layer):
        return layer_text(node)
    if isinstance(node, ir.Module) and node.kind == "block":
        inside = contents(node)
        return call_text(node) + (f": {inside}" if inside else "")
    if isinstance(node, (ir.Module, ir.Merge)):
        return contents(node) or detail
    return detail


def _describe(node: ir.Node) -> tuple[str, str, str, str]:
    if isinstance(node, ir.Layer):
        op = lookup(node.op)
        assert op is not None
        a = node.args
        kernel = ""
        if "kernel" in a:
            from .diagram.labels import kernel_text

            kernel = kernel_text(a["kernel"], len(a["kernel"]))
            if "stride" in a and any(s != 1 for s in a["stride"]):
                kernel += "/" + (
                    str(a["stride"][0]) if len(set(a["stride"])) == 1 else size_text(a["stride"])
                )
        return "layer", node.op, op.describe(a), kernel
    if isinstance(node, ir.Module):
        if node.kind == "block":
            return "block", node.title, node.title, ""
        from .diagram.labels import contents

        return "group", "sequential", contents(node) or "sequential", ""
    if isinstance(node, ir.Merge):
        what = "residual add" if node.residual else node.kind
        return "merge", node.kind, what, ""
    return "other", type(node).__name__.lower(), "", ""


def _rf_text(rf: tuple[float, ...] | None) -> str:
    if rf is None:
        return "—"
    return size_text(rf[:1] if len(set(rf)) == 1 else rf)


# ---------------------------------------------------------------- formats
def to_table(analyses: list[Analysis], depth: int | None = None) -> str:
    """An aligned plain-text table per network, with totals."""
    blocks = []
    for a in analyses:
        head = ("Layer", "Op", "Output", "Params", "MACs", "RF")
        body = [
            (
                ("  " * (r.depth - 1)) + r.path.rsplit(".", 1)[-1],
                r.label,
                size_text(r.output),
                f"{r.params:,}",
                f"{r.macs:,}",
                _rf_text(r.rf),
            )
            for r in rows(a, depth)
        ]
        widths = [
            max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
        ]

        def fmt(cells: tuple[str, ...], widths: list[int] = widths) -> str:
            return "  ".join(
                c.rjust(w) if r else c.ljust(w)
                for c, w, r in zip(cells, widths, RIGHT, strict=True)
            ).rstrip()

        rule = "-" * len(fmt(head))
        lines = [
            f"{a.network.name}: input {size_text(a.network.input_shape)}",
            rule,
            fmt(head),
            rule,
            *(fmt(b) for b in body),
            rule,
        ]
        lines += _totals(a)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


RIGHT = (False, False, False, True, True, True)


def _totals(a: Analysis) -> list[str]:
    out = [f"Output: {size_text(a.network.output_shape)}"]
    for name, shape in a.outputs.items():
        out.append(f"Side output {name}: {size_text(shape)}")
    params = f"Params: {a.params:,} ({human(a.params)})"
    if a.main_params != a.params:
        params += f"; {a.main_params:,} without side outputs"
    out += [
        params,
        f"Trainable params: {a.trainable_params:,}",
        f"Buffers (not trainable): {a.buffers:,}",
        f"MACs: {a.macs:,} ({human(a.macs)})",
        f"Activations: {a.activation_bytes / 2**20:.2f} MiB per sample (float32)",
    ]
    return out


def to_markdown(analyses: list[Analysis], depth: int | None = None) -> str:
    """A paper-style architecture table in Markdown."""
    out = []
    for a in analyses:
        out.append(f"**{a.network.name}** (input {size_text(a.network.input_shape)})\n")
        out.append("| Layer | Type | Kernel/stride | Output size | Params | MACs | RF |")
        out.append("|---|---|---|---|---:|---:|---:|")
        for r in rows(a, depth):
            name = ("&nbsp;&nbsp;" * (r.depth - 1)) + _md(r.path.rsplit(".", 1)[-1])
            out.append(
                f"| {name} | {_md(r.label)} | {r.kernel} | {size_text(r.output)} | "
                f"{r.params:,} | {human(r.macs) if r.macs else ''} | {_rf_text(r.rf)} |"
            )
        out.append(
            f"| **Total** | | | {size_text(a.network.output_shape)} | "
            f"**{a.params:,}** | **{human(a.macs)}** | |"
        )
        out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("_", "\\_")


def to_latex(analyses: list[Analysis], depth: int | None = None) -> str:
    """A paper-style architecture table in LaTeX with booktabs rules, in a ``table`` float
    whose caption names the network and its totals (``\\label{tab:NAME}``)."""
    out = []
    for a in analyses:
        name_tex = _tex(a.network.name)
        shape = _tex_size(a.network.input_shape)
        caption = (
            f"{name_tex}: input ${shape}$, {_tex_int(a.params)} parameters, "
            f"{human(a.macs)} multiply-adds"
        )
        label = "".join(c for c in a.network.name if c.isalnum())
        out += [
            r"\begin{table}[t]",
            r"\centering",
            f"\\caption{{{caption}}}",
            f"\\label{{tab:{label}}}",
            r"\begin{tabular}{llllrrr}",
            r"\toprule",
            r"Layer & Type & Kernel/stride & Output size & Params & MACs & RF \\",
            r"\midrule",
        ]
        end = r" \\"
        for r in rows(a, depth):
            name = (r"\quad " * (r.depth - 1)) + _tex(r.path.rsplit(".", 1)[-1])
            size = size_text(r.output).replace("×", r" \times ")
            macs = human(r.macs) if r.macs else ""
            rf = _rf_text(r.rf)
            rf = "---" if rf == "—" else "$" + rf.replace("×", TIMES) + "$"
            out.append(
                f"{name} & {_tex(r.label)} & {_tex(r.kernel)} & ${size}$ & "
                f"{_tex_int(r.params)} & {macs} & {rf}{end}"
            )
        out += [
            r"\midrule",
            f"Total & & & & {_tex_int(a.params)} & {human(a.macs)} & {end}",
            r"\bottomrule",
            r"\end{tabular}",
            r"\end{table}",
            "",
        ]
    return "\n".join(out)


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "×": r"$\times$",
    "→": r"$\to$",
    "·": r"$\cdot$",
}


TIMES = r" \times "


def _tex_size(shape: tuple[int, ...]) -> str:
    return size_text(shape).replace("×", TIMES)


def _tex_int(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


def _tex(text: str) -> str:
    return "".join(_TEX.get(c, c) for c in text)


def to_csv(analyses: list[Analysis], depth: int | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["network", "path", "kind", "op", "line", "output", "params", "macs", "rf", "jump"])
    for a in analyses:
        for r in rows(a, depth):
            w.writerow(
                [
                    a.network.name,
                    r.path,
                    r.kind,
                    r.op,
                    r.line,
                    size_text(r.output),
                    r.params,
                    r.macs,
                    _rf_text(r.rf),
                    _rf_text(r.jump),
                ]
            )
    return buf.getvalue()


def _json_num(values: tuple[float, ...] | None) -> list[float | int] | None:
    if values is None:
        return None
    return [int(v) if float(v).is_integer() else v for v in values]


def to_json(analyses: list[Analysis], depth: int | None = None) -> dict[str, Any]:
    """The stable JSON contract of ``cnndsl summary --format json``."""
    nets = []
    for a in analyses:
        net = a.network
        nets.append(
            {
                "name": net.name,
                "input": list(net.input_shape),
                "output": list(net.output_shape),
                "outputs": {name: list(shape) for name, shape in a.outputs.items()},
                "params": a.params,
                "trainable_params": a.trainable_params,
                "params_without_side_outputs": a.main_params,
                "buffers": a.buffers,
                "macs": a.macs,
                "side_output_macs": a.side_macs,
                "activation_bytes": a.activation_bytes,
                "layers": [
                    {
                        "path": r.path,
                        "op": r.op,
                        "kind": r.kind,
                        "line": r.line,
                        "output": list(r.output),
                        "params": r.params,
                        "macs": r.macs,
                        "rf": _json_num(r.rf),
                        "jump": _json_num(r.jump),
                    }
                    for r in rows(a, depth)
                ],
            }
        )
    return {"networks": nets}


FORMATS = {
    "table": to_table,
    "markdown": to_markdown,
    "latex": to_latex,
    "csv": to_csv,
    "json": lambda a, depth=None: json.dumps(to_json(a, depth), indent=2) + "\n",
}
