"""Size estimates and the column layout that fits a 16:9 slide."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from ..text import size_text
from .model import _Edge, _Model, _Node
from .style import FONT_SIZE, SLIDE, TITLE_SIZE

# ---------------------------------------------------------------- size estimates
# Columns are chosen from estimated sizes (not by running dot), so that the DOT text is
# the same with or without graphviz installed.
_CHAR = 0.56  # average advance of a character, in ems (Liberation Sans / Helvetica)
_BOLD = 0.61
_LINE = 1.2
_MARGIN = (7.2, 2.9)  # node margin in points (x, y): margin="0.1,0.04"
_NODESEP = 0.15 * 72
_RANKSEP = 0.1 * 72
_BAND = FONT_SIZE * _LINE + 4  # the rank that edge labels take between node ranks
_CLUSTER_LABEL = FONT_SIZE * _LINE + 10
_MAX_COLUMNS = 6
_NO_WRAP = 1.3  # one column is enough when its text is this many times 14 px on a slide
_ONE_ROW = 1.05  # with rankdir=LR, one row is preferred as long as its text is 14 px


def _text_width(text: str, bold: bool = False) -> float:
    return len(text) * FONT_SIZE * (_BOLD if bold else _CHAR)


def _node_size(node: _Node) -> tuple[float, float]:
    """Estimated (width, height) in points."""
    lines = node.lines() or [("", False)]
    w = max(_text_width(t, b) for t, b in lines) + 2 * _MARGIN[0] + 4
    h = len(lines) * FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
    if node.kind == "merge":
        w *= 1.25
    if node.kind == "connector":
        h = FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
        text = node.parts[0] if node.parts else ""
        w = h if len(text) <= 2 else _text_width(text) + 2 * _MARGIN[0] + h / 2
    return max(w, 0.3 * 72), max(h, 0.3 * 72)


def _ranks(model: _Model) -> dict[str, int]:
    """Longest-path layering over the constraint edges (nodes are created in flow order)."""
    rank = {nid: 0 for nid in model.nodes}
    order = {nid: k for k, nid in enumerate(model.nodes)}
    for e in sorted((e for e in model.edges if e.constraint), key=lambda e: order[e.head]):
        rank[e.head] = max(rank[e.head], rank[e.tail] + 1)
    return rank


class _Sizer:
    """Estimated sizes of columns ``[a, b)`` of main-chain items, along and across ranks."""

    def __init__(self, model: _Model, lr: bool, shapes: bool):
        _assign_labels(model, shapes)
        rank = _ranks(model)
        size = {nid: _node_size(n) for nid, n in model.nodes.items()}
        label = {
            e.tail: _text_width(size_text(e.shape)) + 8
            for e in model.edges
            if e.label and e.shape is not None
        }
        n_items = model.items
        self.n = n_items
        top = max(rank.values(), default=0) + 1
        step = [0.0] * top
        cells: dict[tuple[int, int], list[str]] = {}
        for nid, n in model.nodes.items():
            r = rank[nid]
            w, h = size[nid]
            if lr:
                step[r] = max(step[r], w + 2 * _RANKSEP + label.get(nid, 0.0))
            else:
                step[r] = max(step[r], h + 2 * _RANKSEP + (_BAND if shapes else 0.0))
            cells.setdefault((n.item, r), []).append(nid)
        self.prefix = [0.0]
        for v in step:
            self.prefix.append(self.prefix[-1] + v)
        self.lo = [top] * n_items
        self.hi = [-1] * n_items
        self.across = [0.0] * n_items
        for (item, r), ids in cells.items():
            self.lo[item] = min(self.lo[item], r)
            self.hi[item] = max(self.hi[item], r)
            if lr:
                breadth = sum(size[i][1] + _NODESEP for i in ids)
            else:
                breadth = max(
                    sum(size[i][0] + _NODESEP for i in ids),
                    sum(label.get(i, 0.0) + _NODESEP for i in ids),
                )
            self.across[item] = max(self.across[item], breadth)
        span: dict[str, list[int]] = {}
        for n in model.nodes.values():
            c = n.cluster
            while c is not None:
                first_last = span.setdefault(c, [n.item, n.item])
                first_last[0] = min(first_last[0], n.item)
                first_last[1] = max(first_last[1], n.item)
                c = model.clusters[c].parent
        self.spans = list(span.values())
        self.nest = [0] * n_items
        for n in model.nodes.values():
            level, c = 0, n.cluster
            while c is not None:
                level, c = level + 1, model.clusters[c].parent
            self.nest[n.item] = max(self.nest[n.item], level)
        self.starts = [0] * n_items
        opened = [0] * (n_items + 1)  # clusters open across the start of item a
        for first, last in self.spans:
            self.starts[first] += 1
            opened[first + 1] += 1
            opened[last + 1] -= 1
        self.opened = list(accumulate(opened))
        self.start_sum = [0, *accumulate(self.starts)]
        # range minima and maxima in O(1) (sparse tables): the layout asks for many ranges
        self._lo = _Sparse([lo if hi >= 0 else top for lo, hi in zip(self.lo, self.hi)], min)
        self._hi = _Sparse(self.hi, max)
        self._across = _Sparse(self.across, max)
        self._nest = _Sparse(self.nest, max)
        # a column may start at an item with nodes, unless the item reads a bound tensor
        # (the start of a `u2 -> …` chain): that would leave a stub of a column
        reads = {
            model.nodes[e.head].item
            for e in model.edges
            if e.name is not None and model.nodes[e.tail].item < model.nodes[e.head].item
        }
        # and only between the steps of the network or of its own modules (not deeper)
        nodes_from = [False] * (n_items + 1)
        for i in range(n_items - 1, -1, -1):
            nodes_from[i] = nodes_from[i + 1] or self.hi[i] >= 0
        self.candidates = [
            i
            for i in range(2, n_items)
            if nodes_from[i]
            and i not in reads
            and model.levels.get(i, 0) <= 1
            and (self.hi[i] >= 0 or model.levels.get(i + 1, 0) > model.levels[i])
        ]
        self.lr = lr
        self.shapes = shapes

    def column(self, a: int, b: int) -> tuple[float, float]:
        """(along, across) of items ``[a, b)`` drawn as one column (row for LR)."""
        if b <= a:
            return 0.0, 0.0
        hi = self._hi.query(a, b)
        lo = self._lo.query(a, b) if hi >= 0 else 0
        along = self.prefix[hi + 1] - self.prefix[lo]
        across = self._across.query(a, b) + 16 * self._nest.query(a, b)
        labels = (self.start_sum[b] - self.start_sum[a] + self.opened[a]) * _CLUSTER_LABEL
        connector = FONT_SIZE * _LINE + 2 * _MARGIN[1] + 4
        if self.lr:
            across += labels * 0.5
            along += (connector + 2 * _RANKSEP) * ((a > 0) + (b < self.n))
        else:
            along += labels + (connector + 2 * _RANKSEP + (_BAND if self.shapes else 0)) * (
                (a > 0) + (b < self.n)
            )
        return along, across

    def scale(self, starts: list[int], title: bool) -> float:
        """The scale at which these columns fit a 1920×1080 slide."""
        bounds = [*starts, self.n]
        sizes = [self.column(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]
        along = max(s[0] for s in sizes) + 2 * 0.2 * 72
        across = sum(s[1] for s in sizes) + 2 * _NODESEP * (len(sizes) - 1) + 2 * 0.2 * 72
        width, height = (along, across) if self.lr else (across, along)
        if title:
            height += TITLE_SIZE * _LINE + 8
        return min(SLIDE[0] / max(width, 1.0), SLIDE[1] / max(height, 1.0))

    def pack(self, bound: float, limit: int | None = None) -> list[int]:
        """Greedy columns of at most ``bound`` along; returns the items that start them.

        A column's length grows with its end, so the farthest end that fits is found by
        bisection over the candidate ends: O(columns × log items). With ``limit``, packing
        stops once it needs more than ``limit`` columns (the answer is then too long).
        """
        starts = [0]
        ends = [*self.candidates, self.n]
        while True:
            a = starts[-1]
            first = bisect_right(ends, a)  # ends[first] is the first end past a: always taken
            # then the ends after it up to the first that does not fit (the network's own
            # end needs no connector below it, so it is tried last and on its own)
            lo, hi = first, len(ends) - 2
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.column(a, ends[mid])[0] > bound:
                    hi = mid - 1
                else:
                    lo = mid
            if lo == len(ends) - 2 and self.column(a, ends[-1])[0] <= bound:
                lo = len(ends) - 1
            lo = max(lo, first)
            chosen = ends[lo]
            if chosen >= self.n:
                return starts
            starts.append(chosen)
            if limit is not None and len(starts) > limit:
                return starts


class _Sparse:
    """Range minimum (or maximum) queries over a fixed list in O(1) after O(n log n)."""

    def __init__(self, values: list[Any], op: Callable[[Any, Any], Any]):
        self.op = op
        self.levels = [list(values)]
        width = 1
        while 2 * width <= len(values):
            prev = self.levels[-1]
            self.levels.append([op(prev[i], prev[i + width]) for i in range(len(prev) - width)])
            width *= 2

    def query(self, a: int, b: int) -> Any:
        """``op`` over ``values[a:b]`` (``b > a``)."""
        k = (b - a).bit_length() - 1
        row = self.levels[k]
        return self.op(row[a], row[b - (1 << k)])


def _layout(model: _Model, lr: bool, shapes: bool, title: bool) -> tuple[list[int], float]:
    """Choose the column starts (main-chain items) and return them with the slide scale.

    Columns only as many as needed: the fewest whose text is large enough
    (:data:`_NO_WRAP`), else the most legible, where one more column must gain 8 %. For
    each number of columns the cuts go between the network's own steps where that does
    about as well (within 15 %) as cutting between the steps of its modules too, so a
    short first step (a stem) does not take a column of its own when two would do.
    """
    sizer = _Sizer(model, lr, shapes)
    split = None if lr else _u_shape(model)
    if split is not None:  # a U: the encoder and the decoder side by side, no columns
        return [0], sizer.scale([0, split], title)
    single = sizer.scale([0], title)
    if lr and single >= _ONE_ROW:
        return [0], single
    if single >= _NO_WRAP:
        return [0], single
    every = sizer.candidates
    top = [i for i in every if model.levels.get(i, 0) == 0]
    best, best_scale = [0], single
    for k in range(2, _MAX_COLUMNS + 1):
        options: list[tuple[float, list[int]]] = []
        for cands, weight in ((top, 1.15), (every, 1.0)):
            sizer.candidates = cands
            starts = _pack_into(sizer, k)
            if starts is not None:
                options.append((sizer.scale(starts, title) * weight, starts))
        sizer.candidates = every
        if not options:
            break
        starts = max(options, key=lambda o: o[0])[1]
        scale = sizer.scale(starts, title)
        if scale > best_scale * 1.08:
            best, best_scale = starts, scale
        if best_scale >= _NO_WRAP:
            break
    return best, best_scale


def _pack_into(sizer: _Sizer, k: int) -> list[int] | None:
    """The starts of at most ``k`` columns whose longest is shortest (None: no cut fits)."""
    if len(sizer.candidates) < k - 1:
        return None
    lo, hi = 0.0, sizer.column(0, sizer.n)[0]
    starts = sizer.pack(hi)
    for _ in range(24):  # the least bound that packs into k columns
        mid = (lo + hi) / 2
        attempt = sizer.pack(mid, k)
        if len(attempt) <= k:
            hi, starts = mid, attempt
        else:
            lo = mid
    return starts if len(starts) >= 2 else None


def _assign_labels(model: _Model, shapes: bool) -> None:
    """The shape of a tensor goes on one edge leaving its node: the most main one."""
    first: dict[str, _Edge] = {}
    for e in model.edges:
        e.label = False
        if e.tail not in first or e.priority < first[e.tail].priority:
            first[e.tail] = e
    if shapes:
        for e in first.values():
            e.label = e.shape is not None and model.nodes[e.head].kind != "connector-in"


def _wrap(model: _Model, starts: list[int]) -> list[str]:
    """Cut the model into columns; returns the column heads, left to right.

    An edge from one column to another goes through a pair of connectors named after the
    tensor it carries: its bound name (``e2``), else the path of the module whose output it
    is (``layer2``, ``inception3b``); a letter only where neither tells it apart.
    """
    column = {}
    bounds = [*starts, model.items]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        for i in range(a, b):
            column[i] = k
    for n in model.nodes.values():
        n.column = column[n.item]
    heads: dict[int, str] = {0: "input"}
    edges: list[_Edge] = []
    outs: dict[tuple[str, str | None], str] = {}
    ins: dict[tuple[str, str | None, int], str] = {}
    letters = 0
    lettered: set[int] = set()
    used: set[str] = set()
    # item -> the path of the outermost step that ends with it
    ending: dict[int, str] = {}
    outer: dict[int, int] = {}
    for i, (path, last) in sorted(model.steps.items()):
        level = model.levels.get(i, 0)
        if path and (last not in outer or level < outer[last]):
            ending[last], outer[last] = path, level
    for e in list(model.edges):
        ct, ch = model.nodes[e.tail].column, model.nodes[e.head].column
        if e.fan and ct != ch:
            continue  # a dense fan-in edge stays within its column (the concat chain says it)
        main = ch == ct + 1 and e.name is None  # skips share the main edge's connector
        if ct == ch or not (main or e.name is not None):
            if ct != ch:
                e.constraint = False
            edges.append(e)
            continue
        key = (e.tail, e.name)
        if key not in outs:
            tail = model.nodes[e.tail]
            # the tensor's name: its binding, else the path of the module it leaves
            cut = ending.get(starts[ch] - 1, "") if main else ""  # what crosses the cut
            text = e.name or tail.bound or cut or ending.get(tail.item, "")
            if not text or text in used:
                text = tail.tooltip if tail.tooltip and tail.tooltip not in used else ""
            if not text or text in used or " " in text:
                text = _letter(letters)
                letters += 1
            used.add(text)
            out_id = f"wrap{len(outs) + 1}_out"
            model.nodes[out_id] = _Node(
                out_id,
                [text],
                "connector",
                None,
                model.nodes[e.tail].item,
                kind="connector",
                tooltip=f"continues at {text}",
                column=ct,
            )
            outs[key] = out_id
            edges.append(_Edge(e.tail, out_id, e.shape, e.priority, e.dashed and not e.skip))
        out_id = outs[key]
        if (*key, ch) not in ins:
            in_id = f"{out_id[:-4]}_in{'' if ch == ct + 1 else ch}"
            text = model.nodes[out_id].parts[0]
            model.nodes[in_id] = _Node(
                in_id,
                [text],
                "connector",
                None,
                starts[ch],
                kind="connector",
                tooltip=f"continued from {text}",
                column=ch,
            )
            ins[(*key, ch)] = in_id
            if ch not in heads or (e.name is None and ch not in lettered):
                heads[ch] = in_id
                if e.name is None:
                    lettered.add(ch)
        edges.append(_Edge(ins[(*key, ch)], e.head, None, e.priority, e.dashed, e.skip))
    model.edges = edges
    return [heads[c] for c in sorted(heads)]


def _letter(k: int) -> str:
    return "ABCDEFGHJKLMNPQRSTUVWXYZ"[k % 24] + ("" if k < 24 else str(k // 24))


# ---------------------------------------------------------------- very large diagrams
GIANT = 1500  # nodes: beyond this, positions are computed here and dot's layout is skipped


def _place(model: _Model, lr: bool) -> dict[str, tuple[float, float]]:
    """Positions in points for a very large diagram, in linear time.

    ``dot``'s coordinate pass grows much faster than linearly (a chain of 6,700 nodes did
    not finish in 300 s), so a diagram of more than :data:`GIANT` nodes is laid out here:
    layers by longest path within each column, nodes of one layer side by side, columns
    next to each other; ``neato -n2`` then only draws it, with straight edges.
    """
    rank: dict[str, int] = {}
    incoming: dict[str, list[str]] = {}
    for e in model.edges:
        if model.nodes[e.tail].column == model.nodes[e.head].column:
            incoming.setdefault(e.head, []).append(e.tail)
    for nid in model.nodes:  # nodes are created in flow order: tails come first
        rank[nid] = max((rank[t] + 1 for t in incoming.get(nid, ()) if t in rank), default=0)
    rows: dict[tuple[int, int], list[str]] = {}
    for nid, n in model.nodes.items():
        rows.setdefault((n.column, rank[nid]), []).append(nid)
    size = {nid: _node_size(n) for nid, n in model.nodes.items()}
    gap_along = _BAND + 2 * _RANKSEP
    columns = sorted({c for c, _ in rows})
    pos: dict[str, tuple[float, float]] = {}
    offset = 0.0
    for col in columns:
        along = 0.0
        breadth = 0.0
        for r in range(max(k for c, k in rows if c == col) + 1):
            ids = rows.get((col, r), [])
            if not ids:
                continue
            depth = max((size[i][0] if lr else size[i][1]) for i in ids)
            across = 0.0
            for i in ids:
                w = size[i][1] if lr else size[i][0]
                centre_across = offset + across + w / 2
                centre_along = along + depth / 2
                pos[i] = (centre_along, -centre_across) if lr else (centre_across, -centre_along)
                across += w + _NODESEP
            breadth = max(breadth, across)
            along += depth + gap_along
        offset += breadth + 4 * _NODESEP
    return pos


# ---------------------------------------------------------------- encoder-decoder
def _spatial(shape: tuple[int, ...] | None) -> int | None:
    if shape is None or len(shape) < 2:
        return None
    size = 1
    for v in shape[1:]:
        size *= v
    return size


def _u_shape(model: _Model) -> int | None:
    """Lay out an encoder-decoder as a U; returns the first item of the decoder, or None.

    The bottom of the U is where the main chain reaches its smallest spatial size; the
    network is a U when a skip joins a tensor before the bottom to a node after it at the
    same spatial size (U-Net, FPN-like graphs). The decoder's edges are then drawn reversed
    (it rises on the right), and each skip tensor is pinned to the rank of the last node
    that reads it (a horizontal edge); the other readers' edges do not constrain the ranks.
    """
    model.decoder = set()
    model.pins = []
    main = [
        (n.item, _spatial(n.shape), nid) for nid, n in model.nodes.items() if n.main and n.shape
    ]
    sizes = [sz for _, sz, _ in main if sz is not None]
    if not sizes:
        return None
    low = min(sizes)
    bottom = [item for item, sz, _ in main if sz == low]
    first, last = min(bottom), max(bottom)
    if last >= model.items - 1:
        return None  # the smallest tensor is at the end: a classifier, not a U
    nodes = model.nodes
    skips = [
        e
        for e in model.edges
        if nodes[e.tail].item < first
        and nodes[e.head].item > last
        and (e.name is not None or e.skip)
        and _spatial(nodes[e.tail].shape) == _spatial(nodes[e.head].shape) is not None
    ]
    if not skips:
        return None
    model.decoder = {nid for nid, n in nodes.items() if n.item > last}
    reader: dict[str, str] = {}
    for e in model.edges:
        t_in, h_in = e.tail in model.decoder, e.head in model.decoder
        if t_in and h_in:
            e.reverse = True
        elif h_in and nodes[e.tail].item >= first:
            e.reverse = True  # from the bottom up into the decoder
        elif h_in:
            e.constraint = False  # a skip (or a side path's input) across the U
            if e.name is not None or e.skip:
                prev = reader.get(e.tail)
                if prev is None or nodes[e.head].item >= nodes[prev].item:
                    reader[e.tail] = e.head
    model.pins = sorted(reader.items(), key=lambda p: nodes[p[0]].item)
    return last + 1
