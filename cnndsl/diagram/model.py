"""The drawing model: nodes, edges and clusters built from an analysed network."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import ir
from ..ops import lookup
from ..shapes import Analysis
from .labels import call_text, contents, dense_growth, layer_text
from .style import _DOMINANT, _FOLDABLE

# ---------------------------------------------------------------- the drawing model
Tail = tuple[str, ir.Shape, "str | None"]  # a node id, its tensor, the tensor's bound name


@dataclass(slots=True)
class _Node:
    id: str
    parts: list[str]  # label pieces, joined with " · "
    category: str
    cluster: str | None
    item: int
    title: str | None = None  # a bold first line (folded blocks, outputs)
    kind: str = "layer"  # layer, merge, folded, input, output, connector
    tooltip: str = ""
    column: int = 0
    shape: ir.Shape | None = None  # the tensor it outputs
    main: bool = False  # on the main chain (not a branch or side path)
    bound: str | None = None  # the name its tensor is bound to (`e1 = …`)

    def lines(self) -> list[tuple[str, bool]]:
        out = [(self.title, True)] if self.title else []
        if self.parts:
            out.append((" · ".join(self.parts), False))
        return out


@dataclass(slots=True)
class _Edge:
    tail: str
    head: str
    shape: ir.Shape | None
    priority: int  # 0 main path, 1 branch into a side path, 2 skip
    dashed: bool = False
    skip: bool = False
    constraint: bool = True
    label: bool = False
    name: str | None = None  # the bound tensor it reads (after a `use` or in concat(a, b))
    fan: bool = False  # a dense fan-in edge: thin, bundled, no label, no constraint
    reverse: bool = False  # drawn head -> tail with dir=back (a U's rising decoder)


@dataclass(slots=True)
class _Cluster:
    id: str
    label: str
    parent: str | None
    level: int
    tooltip: str = ""


@dataclass(slots=True)
class _Model:
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    clusters: dict[str, _Cluster] = field(default_factory=dict)
    items: int = 0  # steps of the main chain; a column starts at one of them
    levels: dict[int, int] = field(default_factory=dict)  # item -> cluster nesting of its step
    # item -> (module path of its step, the last item inside it): what a column connector
    # after it is named (the outermost module that ends there)
    steps: dict[int, tuple[str, int]] = field(default_factory=dict)
    # an encoder-decoder drawn as a U (layout._u_shape): the rising nodes, and the pairs of
    # nodes that a skip joins horizontally (rank=same)
    decoder: set[str] = field(default_factory=set)
    pins: list[tuple[str, str]] = field(default_factory=list)


class _Builder:
    """Walks the data flow of a network and fills a :class:`_Model`."""

    def __init__(self, analysis: Analysis, depth: int | None, fold: bool):
        self.net = analysis.network
        self.depth = depth
        self.fold = fold
        self.paths = {node.uid: path for path, node in self.net.modules()}
        self.model = _Model()
        self.bound: dict[str, list[Tail]] = {}
        self.item = -1
        self.last_absorb: str | None = None  # where a flow ended: a following relu may fold
        # a run of DenseNet layers: the concat node of the last one, and every layer's new
        # features (the tails that the next layer's concat also reads)
        self.dense_last: str | None = None
        self.dense_features: list[Tail] = []

    # ------------------------------------------------------------ helpers
    def folded(self, node: ir.Node) -> bool:
        path = self.paths.get(node.uid)
        return self.depth is not None and path is not None and path.count(".") + 1 >= self.depth

    def add(self, node: _Node) -> str:
        self.model.nodes[node.id] = node
        return node.id

    def connect(
        self,
        tails: Iterable[Tail],
        head: str,
        priority: int = 0,
        dashed: bool = False,
        skip: bool = False,
    ) -> None:
        for tail, shape, name in tails:
            self.model.edges.append(_Edge(tail, head, shape, priority, dashed, skip, name=name))
        node = self.model.nodes.get(head)
        if node is not None and node.shape is None:
            for _, shape, _ in tails:
                node.shape = node.shape or shape

    # ------------------------------------------------------------ walking
    def build(self) -> _Model:
        tails = self.flow(self.net.root.body, [], None, 0, False, chain=True)
        out = self.add(
            _Node("output", [], "output", None, self.item, "output", "output", self.net.name)
        )
        self.connect(tails, out)
        self.model.items = self.item + 1
        self._tell_apart()
        return self.model

    def _tell_apart(self) -> None:
        """Boxes that read alike and feed one node (an attention gate's two ``conv 1×1, 16``
        projections into its ``add``) take their module names: ``theta: conv 1×1, 16``."""
        nodes = self.model.nodes
        into: dict[str, list[str]] = {}
        for e in self.model.edges:
            if not e.fan and nodes[e.tail].kind == "layer" and e.tail not in into.get(e.head, []):
                into.setdefault(e.head, []).append(e.tail)
        for tails in into.values():
            alike: dict[tuple[tuple[str, bool], ...], list[_Node]] = {}
            for t in tails:
                alike.setdefault(tuple(nodes[t].lines()), []).append(nodes[t])
            for group in alike.values():
                names = [_short_path(n.tooltip.split(", ")[0]) for n in group]
                if len(group) < 2 or not all(names) or len(set(names)) < len(names):
                    continue
                for n, name in zip(group, names, strict=True):
                    if n.parts and not n.parts[0].startswith(f"{name}: "):
                        n.parts[0] = f"{name}: {n.parts[0]}"

    def flow(
        self,
        body: tuple[ir.Node, ...],
        tails: list[Tail],
        cluster: str | None,
        entry: int,
        dashed: bool,
        chain: bool = False,
    ) -> list[Tail]:
        """Draw ``body`` fed by ``tails``; returns the tails it ends with.

        ``entry`` is the priority of the edges from ``tails`` (later edges are main ones);
        ``dashed`` draws every edge dashed (a projection shortcut); ``chain`` marks the
        main chain (the network's body and the modules in it, not branches), whose steps
        are the items that columns are cut between.
        """
        absorb: str | None = None  # a node whose label may take a following bn/relu
        i = 0
        prio = entry
        while i < len(body):
            node = body[i]
            if chain:
                self.item += 1
                self.model.levels[self.item] = (
                    0 if cluster is None else self.model.clusters[cluster].level + 1
                )
            if chain:
                self.model.steps[self.item] = (self.paths.get(node.uid, ""), self.item)
            if isinstance(node, ir.Layer):
                path = self.paths.get(node.uid, "")
                text = layer_text(node)
                if self.fold and _category(node) in _FOLDABLE and absorb is not None:
                    target = self.model.nodes[absorb]
                    target.parts.append(text)
                    if path:
                        target.tooltip += f", {path}"
                    tails = [(absorb, node.out_shape, None)]
                else:
                    nid = self.add(
                        _Node(
                            f"n{node.uid}",
                            [text],
                            _category(node),
                            cluster,
                            self.item,
                            tooltip=path,
                            shape=node.out_shape,
                            main=chain,
                        )
                    )
                    self.connect(tails, nid, prio, dashed)
                    tails = [(nid, node.out_shape, None)]
                    absorb = nid
            elif isinstance(node, ir.Module):
                if self.folded(node):
                    j = i + 1
                    while (
                        node.kind == "block"
                        and j < len(body)
                        and isinstance(body[j], ir.Module)
                        and body[j].kind == "block"  # type: ignore[union-attr]
                        and call_text(body[j]) == call_text(node)  # type: ignore[arg-type]
                        and self.folded(body[j])
                    ):
                        j += 1
                    if chain:  # a run of calls: the tensor that leaves it is the last one's
                        last = self.paths.get(body[j - 1].uid, "")
                        self.model.steps[self.item] = (last, self.item)
                    nid = self._folded(node, j - i, cluster, chain)
                    self.model.nodes[nid].shape = body[j - 1].out_shape
                    self.connect(tails, nid, prio, dashed)
                    tails = [(nid, body[j - 1].out_shape, None)]
                    absorb = None
                    i = j
                    prio = 0
                    continue
                title = call_text(node) if node.kind == "block" else node.title
                cid = self._cluster(node, title or self.paths.get(node.uid, ""), cluster)
                start = self.item
                tails = self.flow(node.body, tails, cid, prio, dashed, chain)
                if chain:
                    self.model.steps[start] = (self.paths.get(node.uid, ""), self.item)
                absorb = self.last_absorb
            elif isinstance(node, ir.Merge):
                tails, absorb = self._merge(node, tails, cluster, prio, dashed, chain)
            elif isinstance(node, ir.Output):
                ends = self.flow(node.body, tails, cluster, 1, dashed)
                oid = self.add(
                    _Node(
                        f"out{node.uid}",
                        [f"weight {node.weight:g}"],
                        "output",
                        cluster,
                        self.item,
                        node.name,
                        "output",
                        node.name,
                    )
                )
                self.connect(ends, oid)
                absorb = None
                i += 1
                continue  # the main tensor goes on: its next edge keeps its priority
            elif isinstance(node, ir.Bind):
                self.bound[node.name] = [(t, sh, node.name) for t, sh, _ in tails]
                for t, _, _ in tails:
                    self.model.nodes[t].bound = self.model.nodes[t].bound or node.name
                absorb = None
            elif isinstance(node, ir.Use):
                tails = self.bound[node.name]
                absorb = None
            elif isinstance(node, ir.MergeRefs):
                mid = self.add(
                    _Node(
                        f"m{node.uid}",
                        [node.kind],
                        "merge",
                        cluster,
                        self.item,
                        kind="merge",
                        tooltip=f"{node.kind}({', '.join(node.names)})",
                        shape=node.out_shape,
                        main=chain,
                    )
                )
                for name in node.names:
                    src = self.bound[name]
                    main = [t[:2] for t in src] == [t[:2] for t in tails]
                    self.connect(src, mid, 0 if main else 2, skip=not main)
                tails = [(mid, node.out_shape, None)]
                absorb = mid
            elif isinstance(node, ir.Input):
                nid = self.add(
                    _Node(
                        "input",
                        ["input"],
                        "input",
                        cluster,
                        self.item,
                        kind="input",
                        tooltip="input",
                        shape=node.out_shape,
                        main=True,
                    )
                )
                tails = [(nid, node.out_shape, None)]
                absorb = None
            i += 1
            prio = 0
        self.last_absorb = absorb
        return tails

    def _folded(self, node: ir.Module, count: int, cluster: str | None, chain: bool) -> str:
        path = self.paths.get(node.uid, "")
        if node.kind == "block":
            title = call_text(node)
        else:
            title = path.rsplit(".", 1)[-1] or node.title
        if count > 1:
            title += f" ×{count}"
        inside = contents(node, count)
        return self.add(
            _Node(
                f"n{node.uid}",
                [inside] if inside else [],
                _dominant(node),
                cluster,
                self.item,
                title,
                "folded",
                path,
                main=chain,
            )
        )

    def _cluster(self, node: ir.Node, label: str, parent: str | None) -> str:
        level = self.model.clusters[parent].level + 1 if parent else 0
        cid = f"cluster_{node.uid}"
        self.model.clusters[cid] = _Cluster(cid, label, parent, level, self.paths.get(node.uid, ""))
        return cid

    def _merge(
        self,
        node: ir.Merge,
        tails: list[Tail],
        cluster: str | None,
        prio: int,
        dashed: bool,
        chain: bool,
    ) -> tuple[list[Tail], str | None]:
        path = self.paths.get(node.uid, "")
        if node.container:
            name = path.rsplit(".", 1)[-1]
            if self.folded(node):
                inside = contents(node)
                nid = self.add(
                    _Node(
                        f"n{node.uid}",
                        [inside] if inside else [],
                        _dominant(node),
                        cluster,
                        self.item,
                        name,
                        "folded",
                        path,
                        main=chain,
                    )
                )
                self.connect(tails, nid, prio, dashed)
                return [(nid, node.out_shape, None)], None
            cluster = self._cluster(node, name, cluster)
        dense = dense_growth(node) is not None
        earlier: list[Tail] = []  # the new features of the dense layers before this one
        if dense and self.dense_last is not None and [t[0] for t in tails] == [self.dense_last]:
            earlier = list(self.dense_features)
        elif dense:
            self.dense_features = []
        into: list[tuple[Tail, bool, bool]] = []  # (tail, dashed, identity)
        for k, branch in enumerate(node.branches):
            shortcut = node.residual == "projection" and k > 0
            if not branch:
                into.extend((t, dashed, True) for t in tails)
                continue
            end = self.flow(branch, tails, cluster, prio if k == 0 else 1, dashed or shortcut)
            into.extend((t, dashed or shortcut, False) for t in end)
        mid = self.add(
            _Node(
                f"m{node.uid}",
                [node.kind],
                "merge",
                cluster,
                self.item,
                kind="merge",
                tooltip=path or (f"residual {node.kind}" if node.residual else node.kind),
                shape=node.out_shape,
                main=chain,
            )
        )
        for (tail, shape, _), dash, identity in into:
            self.model.edges.append(
                _Edge(tail, mid, shape, 2 if identity else 0, dash, skip=identity)
            )
        if dense:
            # DenseNet: this layer's input is every earlier layer's output, drawn as thin
            # fan-in edges that share their end point (a bundle)
            for tail, shape, _ in earlier:
                self.model.edges.append(_Edge(tail, mid, shape, 3, constraint=False, fan=True))
            self.dense_features = earlier + [t for (t, _, identity) in into if not identity]
            self.dense_last = mid
        return [(mid, node.out_shape, None)], mid


def _short_path(path: str) -> str:
    """The last part of a module path, with its parent's when it is a number
    (``downsample.0``): enough to tell a box from its neighbours."""
    parts = path.split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return ".".join(parts[-2:])
    return parts[-1]


def _category(node: ir.Layer) -> str:
    op = lookup(node.op)
    return op.category if op is not None else "other"


def _dominant(node: ir.Node) -> str:
    found = set()
    body = node.body if isinstance(node, ir.Module) else tuple(n for b in node.branches for n in b)  # type: ignore[union-attr]
    for n in ir.iter_flow(body):
        if isinstance(n, ir.Layer):
            op = lookup(n.op)
            found.add(op.category if op else "other")
        elif isinstance(n, (ir.Merge, ir.MergeRefs)):
            found.add("merge")
    return next((c for c in _DOMINANT if c in found), "other")
