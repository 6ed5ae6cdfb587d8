"""A program -> one Python file: classes in dependency order, helpers, imports."""

from __future__ import annotations

import ast
import functools
import re
from typing import Any

from .. import ir
from .. import syntax as s
from ..errors import Span
from ..expr import IN_ATTRS, fold, is_const, lit, subst, to_py
from ..names import MERGE_KINDS, param_names, python_name
from ..program import Program
from .blocks import UNKNOWN, BlockInfo, ClassCode, ClassGen
from .concrete import Printer
from .layout import format_python
from .lines import HEADER, _err


# ---------------------------------------------------------------- files
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
        for net in networks:
            self._index(net.root)

    def _index(self, node: ir.Node) -> None:
        for n in ir.iter_flow(node.body if isinstance(node, ir.Module) else ()):
            kind = {ir.Layer: "layer", ir.Module: "module", ir.Merge: "merge"}.get(type(n))
            if kind:
                self.instances.setdefault((kind, n.span), []).append(n)
            if isinstance(n, ir.Module) and n.kind == "block":
                self.block_instances.setdefault(n.block, []).append(n)  # type: ignore[arg-type]
            if isinstance(n, ir.MergeRefs):
                self.instances.setdefault(("refs", n.span), []).append(n)

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
        rank = ranks.pop() if ranks else 2
        reads = sorted(a[3:] for a in _reads_in(block.body) if a != "in.channels")
        in_values: dict[str, s.Expr] = {"in.channels": s.Name("in_channels")}
        for attr in reads:
            in_values[f"in.{attr}"] = s.Name(f"in_{attr}")
        gen = ClassGen(
            self, name, block.params, block.body, "block", s.Name("in_channels"), rank, in_values
        )
        self.infos[name] = BlockInfo(gen.pnames, UNKNOWN, tuple(reads))
        code, info = gen.generate()
        info.reads = tuple(reads)
        self.infos[name] = info
        code = self.finish(gen, code, block.params, instances, reads)
        code.doc = f"The block {block.name} of the .cnn source."
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
        values = dict(instances[0].values) if instances else {}
        py = gen.pnames
        rename: dict[str, s.Expr] = {name: s.Name(new) for name, new in py.items()}
        for p in params:
            typ = _py_type(values.get(p.name))
            if p.default is None:
                sig.append(f"{py[p.name]}: {typ}")
                continue
            default = fold(subst(p.default, rename))
            if is_const(default):
                sig.append(f"{py[p.name]}: {typ} = {to_py(default)}")
            else:
                sig.append(f"{py[p.name]}: {typ} | None = None")
                fill += [f"if {py[p.name]} is None:", f"    {py[p.name]} = {to_py(default)}"]
        if reads:  # keyword-only: they follow parameters that may have defaults
            sig += ["*", *(f"in_{a}: int" for a in reads)]
        code.signature = ", ".join(sig)
        code.init = ["super().__init__()", *fill, *code.init]
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
        code.doc = f"{net.name}: input {'×'.join(map(str, shape))}."
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
    out: list[str] = []
    previous: bool | None = None
    for line in lines:
        stripped = line.strip()
        kind: bool | None = None
        if line.startswith("x = self.") and stripped.endswith(")") and "(" in stripped:
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


def _reads_in(body: s.Group) -> set[str]:
    """The ``in.*`` attributes a block body reads."""
    return {f"in.{n.attr}" for n in s.walk(body) if isinstance(n, s.InAttr)}


def _py_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple):
        return "tuple[int, ...]"
    return "int"


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
    out = []
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
    typing = [n for n in ("Any", "NamedTuple") if f"{n}" in body]
    typing = [
        n
        for n in typing
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
    if strategy != "concrete":
        try:
            return _layout(program, networks, source, formatted, *_symbolic(program, networks))
        except Exception:  # noqa: BLE001 - anything it cannot write is printed from the IR
            if strategy == "symbolic":
                raise
    return _layout(program, networks, source, formatted, *_concrete(program, networks))


def _symbolic(program: Program, networks: list[ir.Network]) -> tuple[list[ClassCode], set[str]]:
    file = FileGen(program, networks)
    by_name = {n.name: n for n in networks}
    for net in program.networks:
        if net.name in by_name:
            _blocks_first(file, net.body)
            file.translate_network(net, by_name[net.name])
    return file.classes, file.helpers


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
