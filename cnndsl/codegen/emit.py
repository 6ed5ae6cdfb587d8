"""The layer emitter: what an op's ``torch()`` method sees."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import syntax as s
from ..expr import fold, is_const, lit, mul, py_value, subst, to_py
from ..ops import REQUIRED, Op
from ..ops.spatial import resolve_padding
from .lines import _err

if TYPE_CHECKING:
    from .blocks import ClassGen, Ctx, State


# ---------------------------------------------------------------- the layer emitter
class Emit:
    """What an op's ``torch()`` method sees: symbolic arguments and resolved instances."""

    def __init__(self, gen: ClassGen, op: Op, step: s.Layer, ctx: Ctx, state: State, inplace: bool):
        self.gen = gen
        self.op = op
        self.step = step
        self.rank = state.rank
        self.cin = to_py(state.channels)
        self.inplace = inplace
        self.instances = gen.file.instances.get(("layer", step.span), [])
        self.args: dict[str, s.Expr] = {}
        self.given_names: set[str] = set()
        for p, a in zip(op.positional, step.args):
            self.args[p.name] = fold(subst(a, ctx.env))
            self.given_names.add(p.name)
        for kw in step.kwargs:
            spec = op.keywords.get(kw.key)
            value = kw.value
            words = (spec.words if spec else ()) or {
                "pad": ("same", "valid", "full"),
                "dim": ("channels",),
            }.get(spec.kind if spec else "", ())
            if isinstance(value, s.Name) and value.id in words:
                self.args[kw.key] = lit(value.id)
            else:
                self.args[kw.key] = fold(subst(value, ctx.env))
            self.given_names.add(kw.key)
        for p in op.signature:
            if p.name not in self.args and p.default is not REQUIRED and p.default is not None:
                self.args[p.name] = lit(p.default)
        self.cout = to_py(gen.out_channels(op, self, state))

    # values
    def py(self, name: str) -> str:
        e = self.args[name]
        if is_const(e) and e.value == "channels" and name == "dim":  # type: ignore[union-attr]
            return "1"
        return to_py(e)

    def const(self, name: str) -> Any:
        e = self.args.get(name)
        return e.value if e is not None and is_const(e) else None  # type: ignore[union-attr]

    def given(self, name: str) -> bool:
        return name in self.given_names

    def join(self, *parts: str) -> str:
        return ", ".join(p for p in parts if p)

    def kwargs(self, table: tuple[tuple[str, str, Any], ...]) -> str:
        out = []
        for torch_name, ours, default in table:
            e = self.args.get(ours)
            if e is None:
                continue
            if is_const(e) and default is not None and e.value == default:  # type: ignore[union-attr]
                continue
            value = e.value if is_const(e) else None  # type: ignore[union-attr]
            if isinstance(default, float) and type(value) is int:  # TorchScript wants a float
                out.append(f"{torch_name}={float(value)!r}")
                continue
            out.append(f"{torch_name}={to_py(e)}")
        return ", ".join(out)

    def opt(self, name: str, default: Any, torch_name: str | None = None) -> list[str]:
        e = self.args.get(name)
        if e is None or is_const(e) and e.value == default:  # type: ignore[union-attr]
            return []
        return [f"{torch_name or name}={to_py(e)}"]

    def square(self, values: tuple[Any, ...]) -> str:
        if len(set(values)) == 1:
            return py_value(values[0])
        return py_value(tuple(values))

    def size(self, name: str, kind: type = int) -> str:
        e = self.args[name]
        if not is_const(e):
            return to_py(e)
        v = e.value  # type: ignore[union-attr]
        values = tuple(v) if isinstance(v, tuple) else (v,) * self.rank
        if kind is float:
            values = tuple(float(x) for x in values)
        if kind is tuple and self.rank > 1:
            return py_value(values)
        return self.square(values)

    def opt_size(self, name: str, default: int) -> list[str]:
        e = self.args.get(name)
        if e is None:
            return []
        if is_const(e):
            v = e.value  # type: ignore[union-attr]
            values = tuple(v) if isinstance(v, tuple) else (v,) * self.rank
            if all(x == default for x in values):
                return []
        return [f"{name}={self.size(name)}"]

    def ones(self) -> str:
        return "1" if self.rank == 1 else py_value((1,) * self.rank)

    def resolved(self, name: str) -> Any:
        values = {inst.args[name] for inst in self.instances}  # type: ignore[union-attr]
        self.used(name)
        if len(values) > 1:
            raise _err(
                f"'{name}' of this {self.op.name} differs between its instances "
                f"({', '.join(map(str, sorted(values, key=str)))})",
                self.step.span,
                "give it explicitly, or use separate blocks",
            )
        return values.pop() if values else None

    def used(self, arg: str) -> None:
        """The code takes ``arg`` from the elaborated instances (see FileGen.used)."""
        self.gen.file.used.add((("layer", self.step.span), f"arg {arg}"))

    def pairs(self) -> tuple[tuple[int, int], ...] | None:
        if "pad" not in self.args:
            return None
        pad = self.args["pad"]
        if is_const(pad) and pad.value not in ("same", "valid", "full"):  # type: ignore[union-attr]
            v = pad.value  # type: ignore[union-attr]
            values = tuple(v) if isinstance(v, tuple) else (v,) * self.rank
            return tuple((p, p) for p in values)
        if not is_const(pad):
            return None
        if self.instances:
            found = {inst.args["padding"] for inst in self.instances}  # type: ignore[union-attr]
            self.used("padding")
            if len(found) == 1:
                return found.pop()  # type: ignore[no-any-return]
            if self._symbolic_pad() is not None:
                return None
            return self.resolved("padding")  # type: ignore[no-any-return]
        if self._symbolic_pad() is not None:
            return None
        try:
            k = self._const_tuple("kernel")
            st = self._const_tuple("stride") if "stride" in self.args else (1,) * self.rank
            d = self._const_tuple("dilation") if "dilation" in self.args else (1,) * self.rank
        except ValueError:
            raise _err(
                f"pad={pad.value} needs constant kernel, stride and dilation here",  # type: ignore[union-attr]
                self.step.span,
            ) from None
        if pad.value == "same" and any(x > 1 for x in st):  # type: ignore[union-attr]
            raise _err(
                "pad=same with stride > 1 in a branch that no instance takes", self.step.span
            )
        return resolve_padding(pad.value, k, st, d, (1,) * self.rank)  # type: ignore[union-attr]

    def _symbolic_pad(self) -> str | None:
        """``same``/``full`` at stride 1 with a symbolic kernel or dilation.

        ``same`` pads ``d * (k - 1) // 2`` on each side when that is symmetric for every
        instance (odd effective kernels); ``full`` pads ``d * (k - 1)``.
        """
        pad = self.args.get("pad")
        if pad is None or not is_const(pad) or pad.value not in ("same", "full"):  # type: ignore[union-attr]
            return None
        try:
            st = self._const_tuple("stride") if "stride" in self.args else (1,) * self.rank
        except ValueError:
            return None
        kernel, dilation = self.args["kernel"], self.args.get("dilation", lit(1))
        kernel_value = getattr(kernel, "value", None)
        if any(x != 1 for x in st) or (
            isinstance(kernel_value, tuple) and len(set(kernel_value)) != 1
        ):
            return None
        full = pad.value == "full"  # type: ignore[union-attr]
        self.used("padding")  # symmetric for these instances: (k - 1) // 2 holds for them
        for inst in self.instances:
            a = inst.args  # type: ignore[union-attr]
            for k, d, (pb, pe) in zip(a["kernel"], a["dilation"], a["padding"]):
                want = d * (k - 1) if full else d * (k - 1) / 2
                if not pb == pe == want:
                    return None
        k = kernel.value[0] if isinstance(getattr(kernel, "value", None), tuple) else kernel  # type: ignore[union-attr]
        k_expr = k if isinstance(k, s.Lit | s.Name | s.BinOp | s.Call | s.IfExp) else lit(k)
        span = fold(s.BinOp("-", k_expr, lit(1)))
        if not full:
            if is_const(span) and span.value % 2:  # type: ignore[union-attr]
                return None
            span = fold(s.BinOp("//", span, lit(2)))
        return to_py(mul(dilation, span))

    def _const_tuple(self, name: str) -> tuple[int, ...]:
        e = self.args[name]
        if not is_const(e) or e.value is None:  # type: ignore[union-attr]
            raise ValueError(name)
        v = e.value  # type: ignore[union-attr]
        return tuple(v) if isinstance(v, tuple) else (v,) * self.rank

    def padding(self) -> tuple[str, str | None]:
        """(torch ``padding=`` source, None) when symmetric, else (\"0\", F.pad tuple source)."""
        pairs = self.pairs()
        if pairs is None:
            if "pad" not in self.args:
                return "0", None
            return self._symbolic_pad() or to_py(self.args["pad"]), None
        if all(a == b for a, b in pairs):
            return self.square(tuple(a for a, _ in pairs)), None
        return "0", self._fpad(pairs)

    def pad_pairs(self) -> str:
        pairs = self.pairs()
        if pairs is None:
            p = to_py(self.args["pad"])
            return f"({', '.join([p] * (2 * self.rank))})"
        return self._fpad(pairs)

    def _fpad(self, pairs: tuple[tuple[int, int], ...]) -> str:
        flat = [v for pair in reversed(pairs) for v in pair]
        return py_value(tuple(flat))

    def need(self, helper: str) -> str:
        self.gen.file.helpers.add(helper)
        return helper
