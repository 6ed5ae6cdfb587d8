"""A program -> one Python file: classes in dependency order, helpers, imports."""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from pathlib import Path
from typing import Any

from .. import ir
from .. import syntax as s
from ..errors import Span, source_lines
from ..expr import IN_ATTRS, fold, is_const, lit, py_value, subst, to_py
from ..names import MERGE_KINDS, param_names, python_name
from ..program import Program
from ..unparse import expr as unparse_expr
from .blocks import UNKNOWN, BlockInfo, ClassCode, ClassGen
from .concrete import Printer
from .edition2 import HELPERS as EDITION2_HELPERS
from .edition2 import helper_source, size_guard, symbolic_unsupported
from .init import init_lines
from .layout import format_python
from .lines import HEADER, _err


# ---------------------------------------------------------------- files
def _index(
    node: ir.Node,
    instances: dict[tuple[str, Span], list[ir.Node]],
    block_instances: dict[str, list[ir.Module]],
) -> None:
    """Every layer, module and merge under ``node`` by (kind, source span), and every block
    instance by block name."""
    for n in ir.iter_flow(node.body if isinstance(node, ir.Module) else ()):
        kind = {ir.Layer: "layer", ir.Module: "module", ir.Merge: "merge"}.get(type(n))
        if kind:
            instances.setdefault((kind, n.span), []).append(n)
        if isinstance(n, ir.Module) and n.kind == "block":
            block_instances.setdefault(n.block, []).append(n)  # type: ignore[arg-type]
        if isinstance(n, ir.MergeRefs):
            instances.setdefault(("refs", n.span), []).append(n)


class FileGen:
    """Translates a program: the blocks its networks use, then the networks."""

    def __init__(self, program: Program, networks: list[ir.Network]):
        self.program = program
        self.networks = networks
        self.helpers: set[str] = set()
        self.infos: dict[str, BlockInfo] = {}
        self.classes: list[ClassCode] = []
        self.tensor_channels: dict[tuple[str, str], tuple[s.Expr, int]] = {}
        self.class_names = class_names(program)
        self.instances: dict[tuple[str, Span], list[ir.Node]] = {}
        self.block_instances: dict[str, list[ir.Module]] = {}
        # the places where the translation wrote numbers taken from these elaborations, not
        # expressions of the parameters: "in size" (spatial), "in channels", "out channels" or
        # "arg NAME" (a layer's resolved argument, e.g. "arg padding")
        self.used: set[tuple[tuple[str, Span], str]] = set()
        for net in networks:
            _index(net.root, self.instances, self.block_instances)

    def spatial(self, key: tuple[str, Span], before: bool = False) -> tuple[int, ...] | None:
        shapes = {
            (n.in_shape if before else n.out_shape)[1:]  # type: ignore[union-attr]
            for n in self.instances.get(key, [])
        }
        return shapes.pop() if len(shapes) == 1 else None

    def in_attr(self, attr: str, rank: int, spatial: tuple[int, ...]) -> str:
        return str(spatial[IN_ATTRS[rank].index(attr) - 1])

    def class_name(self, block: str) -> str:
        return self.class_names[("block", block)]

    def block(self, name: str) -> BlockInfo:
        if name not in self.infos:
            self.translate_block(name)
        return self.infos[name]

    def translate_block(self, name: str) -> None:
        block = self.program.blocks[name]
        instances = self.block_instances.get(name, [])
        ranks = {len(m.in_shape) - 1 for m in instances}
        if len(ranks) > 1:
            raise _err(f"block {name} is used with inputs of different ranks", block.span)
        if not ranks:  # no instance (an arm other values take): the networks' input rank
            ranks = {len(n.input_shape) - 1 for n in self.networks}
            if len(ranks) != 1:
                raise _err(f"block {name} has no instance to tell its input's rank", block.span)
        rank = ranks.pop()
        reads = sorted(a[3:] for a in _reads_in(block.body) if a != "in.channels")
        in_values: dict[str, s.Expr] = {"in.channels": s.Name("in_channels")}
        for attr in reads:
            in_values[f"in.{attr}"] = s.Name(f"in_{attr}")
        gen = ClassGen(
            self,
            name,
            block.params,
            block.body,
            "block",
            s.Name("in_channels"),
            rank,
            in_values,
            block.sequential,
        )
        self.infos[name] = BlockInfo(gen.pnames, UNKNOWN, tuple(reads))
        code, info = gen.generate()
        info.reads = tuple(reads)
        info.rank = rank
        self.infos[name] = info
        code = self.finish(gen, code, block.params, instances, reads)
        code.doc = _docstring(block.span, _block_doc(block))
        self.classes.append(code)

    def finish(
        self,
        gen: ClassGen,
        code: ClassCode,
        params: tuple[s.Param, ...],
        instances: list[Any],
        reads: list[str],
    ) -> ClassCode:
        sig = ["self"]
        if gen.kind == "block":
            sig.append("in_channels: int")
        fill: list[str] = []
        seen = [dict(inst.values) for inst in instances]
        py = gen.pnames
        rename: dict[str, s.Expr] = {name: s.Name(new) for name, new in py.items()}
        for p in params:
            # every instance's value and a constant default: a union when they differ
            found = [v[p.name] for v in seen if p.name in v]
            const = fold(p.default) if p.default is not None else None
            if const is not None and is_const(const):
                found.append(const.value)  # type: ignore[union-attr]
            typ = _py_type(*found)
            if p.default is None:
                sig.append(f"{py[p.name]}: {typ}")
                continue
            default = fold(subst(p.default, rename))
            if is_const(default):
                value = default.value  # type: ignore[union-attr]
                text = py_value(tuple(value)) if isinstance(value, s.List) else to_py(default)
                sig.append(f"{py[p.name]}: {typ} = {text}")  # a list's default: a tuple
            else:
                sig.append(f"{py[p.name]}: {typ} | None = None")
                fill += [f"if {py[p.name]} is None:", f"    {py[p.name]} = {to_py(default)}"]
        if reads:  # keyword-only: they follow parameters that may have defaults
            sig += ["*", *(f"in_{a}: int" for a in reads)]
        code.signature = ", ".join(sig)
        code.init = [*([] if gen.seq_block else ["super().__init__()"]), *fill, *code.init]
        code.forward = _annotate_returned(_inline_renames(_fold_renames(code.forward)))
        if gen.kind == "block" and not gen.seq_block:
            _as_module_dict(code)
        if gen.outputs:
            code.outputs_tuple = (gen.outputs_class, ["out", *gen.outputs])
        return code

    def translate_network(self, net: s.NetworkDef, elaborated: ir.Network) -> None:
        shape = elaborated.input_shape
        rank = len(shape) - 1
        in_values: dict[str, s.Expr] = {
            f"in.{attr}": lit(v) for attr, v in zip(IN_ATTRS.get(rank, ("channels",)), shape)
        }
        gen = ClassGen(
            self, net.name, net.params, net.body, "network", lit(shape[0]), rank, in_values
        )
        code, _ = gen.generate()
        code.forward = _shape_comments(code.forward, elaborated)
        code = self.finish(gen, code, net.params, [elaborated.root], [])
        size = f"input {'×'.join(map(str, shape))}."
        code.doc = _docstring(net.span, f"{net.name}: {size}", f"{size[0].upper()}{size[1:]}")
        self.classes.append(code)


def _fold_uses(lines: list[str]) -> list[str]:
    """``x = e2`` then ``x = self.theta(x)`` becomes ``x = self.theta(e2)``."""
    out: list[str] = []
    for line in lines:
        if out and line.startswith("x = self.") and line.endswith("(x)"):
            prev = out[-1]
            if (
                prev.startswith("x = ")
                and prev[4:].isidentifier()
                and not prev.startswith("x = self")
            ):
                out[-1] = line[:-2] + prev[4:] + ")"
                continue
        out.append(line)
    return out


def _shape_comments(lines: list[str], net: ir.Network) -> list[str]:
    """``x = self.layer1(x)  # -> 256×56×56`` for the network's own modules, and blank lines
    between stages (runs of blocks and groups versus runs of single layers), as torchvision
    lays out ``ResNet.forward``."""
    members = dict(net.root.members)
    lines = _fold_uses(lines)
    flattens = [  # those written as torch.flatten(x, 1), in order
        node
        for name, node in net.root.members
        if getattr(node, "op", None) == "flatten" and f"self.{name}(" not in "\n".join(lines)
    ]
    out: list[str] = []
    previous: bool | None = None
    for line in lines:
        stripped = line.strip()
        kind: bool | None = None
        if line == "x = torch.flatten(x, 1)" and flattens:
            line = f"{line}  # -> {'×'.join(map(str, flattens.pop(0).out_shape))}"
            kind = False
        elif line.startswith("x = self.") and stripped.endswith(")") and "(" in stripped:
            name = stripped[len("x = self.") : stripped.index("(")]
            node = members.get(name)
            if node is not None:
                line = f"{line}  # -> {'×'.join(map(str, node.out_shape))}"
                kind = isinstance(node, ir.Module) and node.kind == "sequential"
        elif line.startswith("return "):
            kind = None
            if out and out[-1] != "":
                out.append("")
        if kind is not None and previous is not None and kind != previous and out[-1] != "":
            out.append("")
        if line and not line.startswith(" "):
            previous = kind if kind is not None else previous
        out.append(line)
    return out


DOC_WIDTH = 88  # characters of a docstring line (4 columns of indentation, 100 in all)


def _docstring(span: Span, default: str, last: str | None = None) -> str:
    """The comment block written directly above a definition (no blank line between), as the
    body of a class docstring; ``default`` when there is none. The parser keeps no comments,
    so the lines are read from the definition's file (none for source text without a file)."""
    comment = _leading_comment(span)
    if not comment:
        return default
    paragraphs: list[list[str]] = [[]]
    for line in comment:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    if last:
        paragraphs.append([last])
    lines: list[str] = []
    for para in (p for p in paragraphs if p):
        if lines:
            lines.append("")
        if all(len(line) <= DOC_WIDTH for line in para):
            lines += para
        else:
            lines += textwrap.wrap(" ".join(para), DOC_WIDTH, break_on_hyphens=False)
    text = "\n".join(lines).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if len(lines) == 1 and len(text) <= DOC_WIDTH and not text.endswith('"'):
        return text
    return text.replace("\n", "\n    ").replace("\n    \n", "\n\n") + "\n    "


def _block_doc(block: s.BlockDef) -> str:
    """A block's docstring when no comment stands above it: its signature and where it is
    defined, ``PreActBlock(c, stride=1), from line 14 of preact_resnet.cnn.``"""
    params = ", ".join(
        p.name if p.default is None else f"{p.name}={unparse_expr(p.default)}" for p in block.params
    )
    params = re.sub(r"[\x00-\x1f\x7f\\]", "?", params).replace('"', "'")
    where = f"line {block.span.line}"
    if block.span.file and not block.span.file.startswith("<"):
        where += f" of {_safe_text(Path(block.span.file).name)}"
    lines = textwrap.wrap(f"{block.name}({params}), from {where}.", DOC_WIDTH)
    return lines[0] if len(lines) == 1 else "\n    ".join(lines) + "\n    "


def _leading_comment(span: Span) -> list[str]:
    try:
        source = Path(span.file).read_text(encoding="utf-8")
    except (OSError, UnicodeError, ValueError):
        return []
    lines = source_lines(source)
    block: list[str] = []
    i = span.line - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#"):
        text = lines[i].lstrip()[1:]
        block.append(text[1:] if text.startswith(" ") else text)
        i -= 1
    block.reverse()
    out = []
    for line in block:
        line = "".join(c if c.isprintable() else " " for c in line.expandtabs(4)).rstrip()
        out.append(line)
    return out if any(out) else []


def _reads_in(body: s.Group) -> set[str]:
    """The ``in.*`` attributes a block body reads."""
    return {f"in.{n.attr}" for n in s.walk(body) if isinstance(n, s.InAttr)}


def _py_type(*values: Any) -> str:
    """The annotation that fits every value a parameter takes (``int | tuple[int, int]``
    for a kernel given as ``3`` in one instance and ``1x7`` in another)."""
    types = list(dict.fromkeys(_one_type(v) for v in values)) or ["int"]
    if "float" in types and "int" in types:  # an int is a float to a type checker
        types.remove("int")
    return " | ".join(types)


def _one_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, s.List):  # a list parameter: any sequence of its element type
        return "Sequence[float]" if any(isinstance(v, float) for v in value) else "Sequence[int]"
    if isinstance(value, tuple):
        return f"tuple[{', '.join(_one_type(v) for v in value)}]" if value else "tuple[()]"
    return "int"


_SET = re.compile(r"^(\s*)([A-Za-z_]\w*) = (.*)$")


def _fold_renames(lines: list[str]) -> list[str]:
    """``x = self.theta(e2)``, ``tx = x``, ``x = …`` (not reading x) becomes
    ``tx = self.theta(e2)``, ``x = …``: no temporary only renames a tensor."""
    out = list(lines)
    i = 0
    while i + 2 < len(out):
        a, b, c = (_SET.match(line) for line in out[i : i + 3])
        if a and b and c:
            ind, var = a.group(1), a.group(2)
            rhs = c.group(3).split("  #", 1)[0]
            if (
                b.group(1) == ind == c.group(1)
                and b.group(3) == var
                and c.group(2) == var
                and b.group(2) != var
                and not re.search(rf"(?<![.\w]){re.escape(var)}\b", rhs)
            ):
                out[i : i + 2] = [f"{ind}{b.group(2)} = {a.group(3)}"]
                continue
        i += 1
    return out


def _inline_renames(lines: list[str]) -> list[str]:
    """``branch1 = x`` is dropped and its uses read ``x`` when neither name is assigned again
    before the last use (``identity = x`` that a shortcut may replace stays)."""
    out = list(lines)
    i = 0
    while i < len(out):
        m = _SET.match(out[i])
        if m is None or not m.group(3).isidentifier() or m.group(2) == m.group(3):
            i += 1
            continue
        name, var = m.group(2), m.group(3)
        uses = re.compile(rf"(?<![.\w]){re.escape(name)}\b")  # not self.name
        sets = re.compile(rf"^\s*({re.escape(name)}|{re.escape(var)})\b(:[^=]*)? *[-+*/]?=")
        assigns = re.compile(rf"^\s*{re.escape(name)}\b(:[^=]*)? *[-+*/]?=")
        later = [k for k in range(i + 1, len(out)) if uses.search(out[k])]
        nxt = _SET.match(out[later[0]]) if later else None
        if nxt and nxt.group(2) == name and nxt.group(1) == m.group(1):
            if not uses.search(nxt.group(3)):  # a dead store: replaced before it is read
                del out[i]
                continue
        once = sum(1 for line in out if assigns.match(line))
        if (
            not later
            or name == "x"
            or any(uses.search(out[k]) for k in range(i))
            or once != 1
            or any(sets.match(out[k]) for k in range(i + 1, later[-1]))
        ):
            i += 1
            continue
        for k in later:
            out[k] = uses.sub(var, out[k])
        del out[i]
    return out


_ASSIGN = re.compile(r"^(\s*)([A-Za-z_]\w*) = ")


def _annotate_returned(lines: list[str]) -> list[str]:
    """``out: Tensor = self.conv1(x)`` for a local that ``forward`` returns: a module call is
    ``Any`` to a type checker, and ``return out`` must return a Tensor."""
    returned = {line.strip()[7:] for line in lines if line.strip().startswith("return ")}
    returned = {n for n in returned if n.isidentifier() and n != "x"}
    out = []
    for line in lines:
        m = _ASSIGN.match(line)
        if m and m.group(2) in returned:
            returned.discard(m.group(2))
            line = f"{m.group(1)}{m.group(2)}: Tensor{line[m.end(2) :]}"
        out.append(line)
    return out


_LOOP_FORWARD = re.compile(
    r"for (\w+) in range\(self\.(\w+)\):\n    x = getattr\(self, (f\"[^\"]*\")\)\(x\)\nreturn x"
)


def _as_module_dict(code: ClassCode) -> None:
    """A block that only repeats children becomes an ``nn.ModuleDict`` whose ``forward``
    iterates its values, as torchvision's ``_DenseBlock`` does (TorchScript cannot call
    ``getattr`` with a computed name); the state_dict keys stay the same."""
    m = _LOOP_FORWARD.fullmatch("\n".join(code.forward))
    if m is None:
        return
    count = f"self.{m.group(2)} = "
    counts = [line for line in code.init if line.startswith(count)]
    others = [
        line
        for line in code.init
        if line.lstrip().startswith("self.")
        and not line.startswith(("    self.add_module(", count))
    ]
    if len(counts) != 1 or others:  # other modules or attributes: keep the loop
        return
    value = counts[0][len(count) :]
    init = []
    for line in code.init:
        if line == counts[0]:
            continue
        init.append(line.replace(f"range(self.{m.group(2)})", f"range({value})"))
    code.init = init
    code.base = "nn.ModuleDict"
    code.forward = ["for layer in self.values():", "    x = layer(x)", "return x"]


# ---------------------------------------------------------------- the file
_HELPER_ORDER = (
    "_pad",
    "_ceil_crop",
    "Conv1dPad",
    "Conv2dPad",
    "Conv3dPad",
    "MaxPool1dPad",
    "MaxPool2dPad",
    "MaxPool3dPad",
    "MinPool1dPad",
    "MinPool2dPad",
    "MinPool3dPad",
    "AvgPool1dPad",
    "AvgPool2dPad",
    "AvgPool3dPad",
    "SeparableConv1d",
    "SeparableConv2d",
    "SeparableConv3d",
    "ConvTranspose1dCrop",
    "ConvTranspose2dCrop",
    "ConvTranspose3dCrop",
    "Merge",
    "_make_divisible",
)


@functools.cache
def _environment() -> Any:
    """The jinja2 environment (built once: compiling the templates is most of a compile)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("cnndsl", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _helper_sources(env: Any, names: set[str]) -> list[str]:
    module = env.get_template("helpers.py.j2").module
    out = [helper_source(env, name) for name in EDITION2_HELPERS if name in names]
    for name in _HELPER_ORDER:
        if name not in names:
            continue
        if name == "_pad":
            out.append(module.pad_fn())
        elif name == "_ceil_crop":
            out.append(module.ceil_crop_fn())
        elif name == "Merge":
            out.append(module.merge())
        elif name == "_make_divisible":
            out.append(module.make_divisible())
        else:
            r = int(next(c for c in name if c.isdigit()))
            macro = {
                "MaxP": module.max_pool_pad,
                "MinP": module.min_pool_pad,
                "AvgP": module.avg_pool_pad,
                "Sepa": module.separable,
                "Conv": module.conv_pad,
            }[name[:4]]
            if name.startswith("ConvTranspose"):
                macro = module.deconv_crop
            out.append(macro(r))
    return [str(h) for h in out]


def _imports(body: str) -> tuple[list[str], list[str]]:
    std = []
    if "math." in body:
        std.append("import math")
    if "OrderedDict(" in body:
        std.append("from collections import OrderedDict")
    if ": Sequence[" in body:
        std.append("from collections.abc import Sequence")
    typing = [
        n
        for n in ("Any", "NamedTuple")
        if (n == "Any" and ": Any" in body) or (n == "NamedTuple" and "(NamedTuple)" in body)
    ]
    if typing:
        std.append(f"from typing import {', '.join(typing)}")
    torch = []
    if "torch." in body:
        torch.append("import torch")
    torch.append("import torch.nn as nn")
    if "F." in body:
        torch.append("import torch.nn.functional as F")
    torch.append("from torch import Tensor")
    return std, torch


def generate(
    program: Program,
    networks: list[ir.Network],
    source: str,
    strategy: str = "auto",
    formatted: bool = True,
) -> str:
    """The Python source for a program's networks (all of them, in file order).

    ``strategy``: ``"symbolic"`` translates each block once, with its parameters (readable,
    as torchvision writes models); ``"concrete"`` prints every block instance from the IR;
    ``"auto"`` (the default) is symbolic unless a block cannot be written that way.
    ``formatted=False`` skips ``ruff format`` (for modules only a machine reads).
    """
    if strategy == "auto" and symbolic_unsupported(program, networks) is not None:
        strategy = "concrete"  # a second-edition construct the translator leaves to the IR
    if strategy != "concrete":
        try:
            classes, helpers = _symbolic(program, networks)
            _finish_networks(program, networks, classes)
            return _layout(program, networks, source, formatted, classes, helpers)
        except Exception:  # noqa: BLE001 - anything it cannot write is printed from the IR
            if strategy == "symbolic":
                raise
    classes, helpers = _concrete(program, networks)
    _finish_networks(program, networks, classes)
    return _layout(program, networks, source, formatted, classes, helpers)


def _finish_networks(
    program: Program, networks: list[ir.Network], classes: list[ClassCode]
) -> None:
    """What every network class gets, whichever strategy wrote it: the `init` statements at
    the end of ``__init__`` (§7), and a clear error for an input size its weights cannot
    take, first in ``forward``."""
    names = class_names(program)
    by_name = {c.name: c for c in classes}
    for net in networks:
        code = by_name.get(names[("network", net.name)])
        if code is None:
            continue
        init = init_lines(net)
        code.init = [*code.init, *([""] if init else []), *init]
        code.forward = [*size_guard(program, net), *code.forward]


def _symbolic(program: Program, networks: list[ir.Network]) -> tuple[list[ClassCode], set[str]]:
    file = FileGen(program, networks)
    by_name = {n.name: n for n in networks}
    for net in program.networks:
        if net.name in by_name:
            _blocks_first(file, net.body)
            file.translate_network(net, by_name[net.name])
    _check_numbers(file)
    return file.classes, file.helpers


def _check_numbers(file: FileGen) -> None:
    """The numbers the translation took from the elaborated shapes (a flattened size, an
    ``in.height`` passed to a block, channels it could not express) hold for the values the
    network was compiled with. Each network parameter is changed in turn (a count or size one
    more, a flag flipped) and the network elaborated again: where such a number, or the input
    size the size guard checks, changes, the class could build wrong layers for other values,
    so the translation is refused (and the file printed from the IR, which accepts only the
    compiled values)."""
    from ..elaborate import elaborate
    from ..errors import CnnError, Warnings

    if not file.used:
        return  # every number is an expression of the parameters
    defs = {n.name: n for n in file.program.networks}
    for net in file.networks:
        if not defs[net.name].params:
            continue
        values = dict(net.values)
        for name, value in values.items():
            other = _other_value(value)
            if other is None:
                continue
            try:
                (changed,) = elaborate(file.program, net.name, {name: other}, Warnings())
            except CnnError:
                continue  # values check refuses: the class raises for them too
            if changed.input_shape != net.input_shape:
                raise ValueError(f"the input size depends on {name}")
            again: dict[tuple[str, Span], list[ir.Node]] = {}
            _index(changed.root, again, {})
            for key, part in file.used:
                was = {_part(n, part) for n in file.instances.get(key, [])}
                now = {_part(n, part) for n in again.get(key, [])}
                if now and was != now:
                    raise ValueError(f"a shape at {key[1]} depends on {name}")


def _other_value(value: Any) -> Any:
    """Another value of a parameter's kind (see :func:`_check_numbers`), or None."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):  # a width multiplier, a probability
        return value + 0.25
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return s.List(v + 1 for v in value)  # a list value as the checker evaluates lists
    return None


def _part(node: Any, part: str) -> tuple[Any, ...]:
    """The numbers :attr:`FileGen.used` names in a node's shapes."""
    if part.startswith("arg "):
        return (node.args[part[4:]],)
    shape = tuple(node.out_shape if part == "out channels" else node.in_shape)
    return shape[1:] if part == "in size" else shape[:1]


def _concrete(program: Program, networks: list[ir.Network]) -> tuple[list[ClassCode], set[str]]:
    printer = Printer(class_names(program))
    defs = {n.name: n for n in program.networks}
    for net in networks:
        py = param_names([p.name for p in defs[net.name].params])
        values = dict(net.values)
        params = [(py[n], _py_type(values[n]), values[n]) for n in py]
        printer.network(net, params)
    return printer.classes, printer.helpers


def _layout(
    program: Program,
    networks: list[ir.Network],
    source: str,
    formatted: bool,
    classes: list[ClassCode],
    helper_names: set[str],
) -> str:
    env = _environment()
    body_probe = "\n".join("\n".join(c.init + c.forward) for c in classes)
    if "_make_divisible(" in body_probe:
        helper_names.add("_make_divisible")
    if any(h.startswith("Conv") for h in helper_names):
        helper_names.add("_pad")
    if any("Pool" in h for h in helper_names):
        helper_names.add("_ceil_crop")
    helpers = _helper_sources(env, helper_names)
    names = class_names(program)
    doc = ", ".join(names[("network", n.name)] for n in networks)
    source = _safe_text(source)
    doc = f"{doc}: PyTorch modules compiled from {source} by cnndsl."
    everything = (
        "\n".join(helpers)
        + body_probe
        + "".join(
            c.signature + c.returns + ("(NamedTuple)" if c.outputs_tuple else "") for c in classes
        )
    )
    std, torch_imports = _imports(everything)
    text = env.get_template("model.py.j2").render(
        header=f"{HEADER} from {source}; do not edit.\n# To change it, edit the .cnn file and "
        f"run: cnndsl compile {source}",
        doc=doc,
        stdlib_imports=std,
        torch_imports=torch_imports,
        helpers=helpers,
        classes=classes,
    )
    ast.parse(text)  # a SyntaxError here is a bug the caller can fall back from
    return format_python(text) if formatted else text


def _safe_text(text: str) -> str:
    """A file name as the generated header and docstring show it: characters that could end
    a comment or a docstring (newlines, quotes, backslashes, other controls) become ``?``."""
    return re.sub(r"[^\w./ +@~<>-]", "?", text)


def _blocks_first(file: FileGen, body: s.Group, visiting: frozenset[str] = frozenset()) -> None:
    """Translate the blocks a body calls (depth first), so classes come in dependency order.

    ``visiting``: the blocks on the current path, so a (never instantiated) recursive block
    does not recurse here."""
    for name in _calls(body):
        if name not in file.infos and name in file.program.blocks and name not in visiting:
            _blocks_first(file, file.program.blocks[name].body, visiting | {name})
            if name not in file.infos:
                file.translate_block(name)


def class_names(program: Program) -> dict[tuple[str, str], str]:
    """The Python class of each network and block: its name, unless that would shadow a
    name the generated module uses (``torch``, ``nn``…), a builtin or keyword, or another
    class (a block and a network of one name); then with a trailing ``_`` (networks keep
    their names first)."""
    taken: set[str] = set()
    out = {("network", n.name): python_name(n.name, taken) for n in program.networks}
    out.update({("block", b): python_name(b, taken) for b in program.blocks})
    for kind, name in list(out):
        out[(f"{kind} outputs", name)] = python_name(f"{out[(kind, name)]}Outputs", taken)
    return out


def _calls(node: Any) -> list[str]:
    """Names of the blocks a body calls, in source order, once each."""
    names = (n.func for n in s.walk(node) if isinstance(n, s.Call) and n.func not in MERGE_KINDS)
    return list(dict.fromkeys(names))
