"""Stage 3: per-node figures of an elaborated network, in a side table keyed by ``uid``.

Shapes themselves are on the IR (the elaborator needs them for ``in``); this pass adds
parameters (as PyTorch counts them), buffers, multiply-adds and the receptive field, and
the network's totals.

>>> from cnndsl.api import load_networks
>>> a = infer_shapes(load_networks(source="network N { input 3x32x32; conv 8 3x3 }")[0])
>>> a.params, a.macs, a.node(a.network.root).rf
(224, 194400, (3.0, 3.0))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import ir
from .ops import lookup

RF = tuple[float, ...] | None


@dataclass(frozen=True, slots=True)
class Stats:
    """Figures of one node; for containers, the totals of their children."""

    shape: ir.Shape
    params: int
    buffers: int
    macs: int
    rf: RF
    jump: RF


@dataclass(slots=True)
class Analysis:
    """The side table of a network and its totals.

    ``params`` counts every module (side outputs included), ``main_params`` those used in
    eval mode; ``macs`` is one eval-mode forward pass (side outputs excluded),
    ``side_macs`` what the side outputs add in training mode.
    """

    network: ir.Network
    stats: dict[int, Stats] = field(default_factory=dict)
    params: int = 0
    main_params: int = 0
    buffers: int = 0
    macs: int = 0
    side_macs: int = 0
    activation_bytes: int = 0

    def node(self, node: ir.Node) -> Stats:
        return self.stats[node.uid]

    @property
    def trainable_params(self) -> int:
        return self.params

    @property
    def outputs(self) -> dict[str, ir.Shape]:
        return {name: shape for name, shape, _ in self.network.outputs}


@dataclass(slots=True)
class _Walker:
    analysis: Analysis
    tensors: dict[str, tuple[RF, RF]] = field(default_factory=dict)
    side: bool = False

    def flow(self, body: tuple[ir.Node, ...], rf: RF, jump: RF) -> tuple[RF, RF, int, int, int]:
        """Walk a flow; returns the final rf/jump and the totals of params, buffers, MACs."""
        params = buffers = macs = 0
        for node in body:
            rf, jump, p, b, m = self.visit(node, rf, jump)
            params, buffers, macs = params + p, buffers + b, macs + m
        return rf, jump, params, buffers, macs

    def visit(self, node: ir.Node, rf: RF, jump: RF) -> tuple[RF, RF, int, int, int]:
        a = self.analysis
        shape = node.out_shape
        if isinstance(node, ir.Layer):
            op = lookup(node.op)
            assert op is not None
            p, b = op.count_params(node.in_shape, node.args)
            m = op.count_macs(node.in_shape, node.out_shape, node.args)
            order = op.rf_order(node.in_shape, node.args)
            if order is not None and rf is not None and jump is not None:
                rf, jump = tuple(rf[i] for i in order), tuple(jump[i] for i in order)
            else:
                rf, jump = _grow(
                    rf, jump, op.window(node.in_shape, node.out_shape, node.args), len(shape) - 1
                )
            self.count(shape, m)
        elif isinstance(node, ir.Module):
            rf, jump, p, b, m = self.flow(node.body, rf, jump)
        elif isinstance(node, ir.Merge):
            ends = []
            p = b = m = 0
            broadcast = []
            for branch in node.branches:
                r, j, bp, bb, bm = self.flow(branch, rf, jump)
                ends.append((r, j))
                end_shape = branch[-1].out_shape if branch else node.in_shape
                broadcast.append(ir.spatial(end_shape) != ir.spatial(node.out_shape))
                p, b, m = p + bp, b + bb, m + bm
            rf, jump = _widest(ends, broadcast)
            self.count(shape, 0)
        elif isinstance(node, ir.Output):
            saved = self.side
            self.side = True
            _, _, p, b, m = self.flow(node.body, rf, jump)
            self.side = saved
            shape = node.out_shape
        elif isinstance(node, ir.Bind):
            self.tensors[node.name] = (rf, jump)
            p = b = m = 0
        elif isinstance(node, ir.Use):
            rf, jump = self.tensors[node.name]
            p = b = m = 0
        elif isinstance(node, ir.MergeRefs):
            rf, jump = _widest([self.tensors[n] for n in node.names])
            p = b = m = 0
            self.count(shape, 0)
        else:  # Input
            rf = jump = tuple(1.0 for _ in node.out_shape[1:]) or None
            p = b = m = 0
        a.stats[node.uid] = Stats(shape, p, b, m, rf, jump)
        return rf, jump, p, b, m

    def count(self, shape: ir.Shape, macs: int) -> None:
        self.analysis.activation_bytes += 4 * math.prod(shape)


def _grow(
    rf: RF, jump: RF, window: tuple[tuple[float, float], ...], out_rank: int
) -> tuple[RF, RF]:
    if rf is None or jump is None or out_rank == 0 or len(window) != len(rf):
        return None, None
    new_rf, new_jump = [], []
    for r, j, (k, s) in zip(rf, jump, window, strict=True):
        if s >= 1:
            new_rf.append(r + (k - 1) * j)
            new_jump.append(j * s)
        else:
            nj = j * s
            new_rf.append(r + (k - 1) * nj)
            new_jump.append(nj)
    return tuple(new_rf), tuple(new_jump)


def _widest(ends: list[tuple[RF, RF]], broadcast: list[bool] | None = None) -> tuple[RF, RF]:
    """Through branches, the largest receptive field; the jump of the branches on the
    output's grid (a 1×1 gate that `mul` broadcasts, as in squeeze-and-excitation, sees the
    whole input but does not set the output's sampling)."""
    if not ends or any(r is None or j is None for r, j in ends):
        return None, None
    rank = len(ends[0][0])  # type: ignore[arg-type]
    if any(len(r) != rank for r, _ in ends):  # type: ignore[arg-type]
        return None, None
    on_grid = [e for e, b in zip(ends, broadcast or [False] * len(ends)) if not b] or ends
    rf = tuple(max(r[d] for r, _ in ends) for d in range(rank))  # type: ignore[index]
    jump = tuple(max(j[d] for _, j in on_grid) for d in range(rank))  # type: ignore[index]
    return rf, jump


def infer_shapes(network: ir.Network) -> Analysis:
    """Compute the side table (params, buffers, MACs, receptive field) of every node."""
    analysis = Analysis(network)
    walker = _Walker(analysis)
    rf, jump, params, buffers, macs = walker.flow(network.root.body, None, None)
    side_params = side_macs = 0
    for node in network.root.body:
        if isinstance(node, ir.Output):
            st = analysis.stats[node.uid]
            side_params += st.params
            side_macs += st.macs
    analysis.stats[network.root.uid] = Stats(
        network.root.out_shape, params, buffers, macs, rf, jump
    )
    analysis.params = params
    analysis.main_params = params - side_params
    analysis.buffers = buffers
    analysis.macs = macs - side_macs
    analysis.side_macs = side_macs
    return analysis
