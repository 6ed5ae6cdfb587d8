"""The front end's public functions: source text or file -> checked networks.

These import neither torch nor graphviz; :mod:`cnndsl.cli` is a thin layer over them, and no
stage imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ir
from .elaborate import elaborate
from .errors import Warnings
from .program import load_program, no_gc
from .shapes import Analysis, infer_shapes


def load_networks(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: Warnings | None = None,
    filename: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
) -> list[ir.Network]:
    """Parse, elaborate and shape-check; raises :class:`cnndsl.errors.CnnError`.
    ``input_shape`` replaces the declared input size (as ``check --input``)."""
    program = load_program(path, source, filename)
    with no_gc():
        return elaborate(program, network, overrides, warnings, input_shape)


def analyze(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    overrides: dict[str, Any] | None = None,
    warnings: Warnings | None = None,
    filename: str = "<string>",
    input_shape: tuple[int, ...] | None = None,
) -> list[Analysis]:
    """:func:`load_networks` plus the side table of every network."""
    nets = load_networks(path, source, network, overrides, warnings, filename, input_shape)
    with no_gc():
        return [infer_shapes(n) for n in nets]


def summary_json(
    path: str | Path | None = None,
    source: str | None = None,
    network: str | None = None,
    filename: str = "<string>",
) -> dict[str, Any]:
    """The ``cnndsl summary --format json`` document as a dict."""
    from .tables import to_json

    return to_json(analyze(path, source, network, filename=filename))


# ---------------------------------------------------------------- typed results
@dataclass(frozen=True, slots=True)
class Layer:
    """One row of a summary: a module path and its figures (the JSON contract's fields)."""

    path: str
    op: str
    kind: str
    line: int
    output: tuple[int, ...]
    params: int
    macs: int
    rf: tuple[float, ...] | None
    jump: tuple[float, ...] | None


@dataclass(frozen=True, slots=True)
class Network:
    """A checked network: shapes and totals, and its layers (to the summary's depth)."""

    name: str
    input: tuple[int, ...]
    output: tuple[int, ...]
    outputs: dict[str, tuple[int, ...]]
    params: int
    buffers: int
    macs: int
    activation_bytes: int
    layers: tuple[Layer, ...]

    def _repr_html_(self) -> str:
        """Notebooks show a network as its layer table."""
        return _html([self])


@dataclass(frozen=True, slots=True)
class Summary:
    """What ``cnndsl check`` and ``cnndsl summary`` report for a file: its networks (a
    library of blocks has none) and the warnings."""

    networks: tuple[Network, ...]
    warnings: tuple[str, ...]
    data: dict[str, Any] = field(repr=False, compare=False)

    def __getitem__(self, name: str) -> Network:
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The ``cnndsl summary --format json`` document."""
        return self.data

    def _repr_html_(self) -> str:
        return _html(list(self.networks))


def check(
    file_or_source: str | Path,
    network: str | None = None,
    depth: int | None = None,
    *,
    params: dict[str, Any] | None = None,
    **overrides: Any,
) -> Summary:
    """Check a ``.cnn`` file (a path) or source text (a string holding ``{``).

    Returns a :class:`Summary`; raises :class:`cnndsl.errors.CnnError` (with its position)
    when the program is wrong. Keyword arguments override network parameters, ``depth``
    limits the layer rows as ``cnndsl summary --depth`` does; a network parameter that is
    itself called ``network``, ``depth`` or ``params`` goes in ``params={…}`` (RegNet's
    ``depth``: ``check(path, params={"depth": 14})``).

    >>> s = check("network N { input 3x32x32; conv 8 3 -> relu }")
    >>> s.networks[0].output, s.networks[0].params
    ((8, 30, 30), 224)
    """
    from .tables import to_json

    warnings = Warnings()
    text = str(file_or_source)
    is_source = not isinstance(file_or_source, Path) and "{" in text
    analyses = analyze(
        None if is_source else file_or_source,
        text if is_source else None,
        network,
        {**overrides, **(params or {})} or None,
        warnings,
    )
    data = to_json(analyses, depth)
    nets = tuple(
        Network(
            name=n["name"],
            input=tuple(n["input"]),
            output=tuple(n["output"]),
            outputs={k: tuple(v) for k, v in n["outputs"].items()},
            params=n["params"],
            buffers=n["buffers"],
            macs=n["macs"],
            activation_bytes=n["activation_bytes"],
            layers=tuple(
                Layer(
                    path=r["path"],
                    op=r["op"],
                    kind=r["kind"],
                    line=r["line"],
                    output=tuple(r["output"]),
                    params=r["params"],
                    macs=r["macs"],
                    rf=None if r["rf"] is None else tuple(r["rf"]),
                    jump=None if r["jump"] is None else tuple(r["jump"]),
                )
                for r in n["layers"]
            ),
        )
        for n in data["networks"]
    )
    return Summary(nets, tuple(str(w.format(None)) for w in warnings.items), data)


def summary(
    file_or_source: str | Path, network: str | None = None, depth: int | None = None
) -> Summary:
    """:func:`check`'s result, with the layer rows to ``depth`` (all when None)."""
    return check(file_or_source, network, depth)


def _html(networks: list[Network]) -> str:
    import html

    from .text import human, size_text

    parts = []
    for net in networks:
        rows = "".join(
            "<tr>"
            + f"<td style='text-align:left'><code>{html.escape(r.path)}</code></td>"
            + f"<td style='text-align:left'>{html.escape(r.op)}</td>"
            + f"<td>{size_text(r.output)}</td><td>{r.params:,}</td><td>{human(r.macs)}</td>"
            + "</tr>"
            for r in net.layers
        )
        parts.append(
            f"<p><b>{html.escape(net.name)}</b>: {size_text(net.input)} → "
            f"{size_text(net.output)}; {net.params:,} params, {human(net.macs)} MACs</p>"
            "<table><thead><tr><th>path</th><th>op</th><th>output</th><th>params</th>"
            f"<th>MACs</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return "\n".join(parts)
