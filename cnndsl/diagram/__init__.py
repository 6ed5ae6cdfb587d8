"""Stage 4a: network diagrams with graphviz.

:func:`to_dot` turns an analysed network into a :class:`Diagram` (a ``graphviz.Digraph``)
and writes nothing; ``cnndsl.render(path)`` loads a file first, and ``cnndsl render``
(:mod:`cnndsl.cli.render`) runs the ``dot`` program and writes files.

Modules: :mod:`.style` (fonts, themes), :mod:`.labels` (the label style), :mod:`.model`
(nodes, edges, clusters), :mod:`.layout` (sizes, slide columns, the U), :mod:`.dot` (DOT
text), :mod:`.tikz` (LaTeX).

What the picture shows:

* one node per layer, labelled like the papers (``conv 3×3, 64, /2``, ``maxpool 3×3, /2``,
  ``fc 1000``; up-sampling ``deconv 2×2, 64, ×2``, ``upsample ×2``; a 1-D kernel ``k80``);
  a block call as the ``.cnn`` file writes it, in the same style
  (``BasicConv2d(64, 7×7, /2)``, ``SE(4)``: see :mod:`.labels`); with ``fold=True`` the
  norms, activations and dropouts that directly follow a layer (or a merge) join its label:
  ``conv 3×3, 64 · bn · relu``; a collapsed group says what is inside it
  (``1×1, 96 → 3×3, 128``, ``BasicBlock(64) ×2``, ``dense ×6, +32 ch each``); boxes
  that read alike and feed one node take their module names (``theta: conv 1×1, 16``);
* output shapes on the edges (``64×56×56``), once per tensor (``shapes=False``: none);
* colours by category from the Okabe–Ito palette: convolutions blue (#0072B2), pooling
  vermillion (#D55E00), ``concat``/``add``/``mul`` bluish green (#009E73), softmax and
  outputs yellow (#F0E442), quiet tones for norms, activations, dropout and linear
  layers; the border carries the colour and the fill is a light tint of it, so black
  text stays legible.  Themes: ``light``, ``dark`` and ``print`` (greys only: categories
  differ by fill lightness and border style, for greyscale printers);
* branches side by side into their merge node; residual shortcuts as edges into the
  ``add`` node, solid for the identity and dashed for a projection; side outputs as
  branches that end in their own output node; bound-tensor merges (U-Net skips) as edges
  from where the tensor was bound;
* blocks and groups as labelled clusters.  ``depth=N`` (§9: depth 1 shows the network's own
  steps) draws a module whose path has N parts as one node with its title (a group: its
  name), its children hidden, and the modules of fewer parts as clusters; a run of
  consecutive identical folded blocks is one node ``Bottleneck(512) ×3``.  ``depth=None``
  expands everything; ``depth="auto"`` picks the most detailed depth whose picture still
  fits a 1920×1080 slide with text at least 14 px high (everything for LeNet or a U-Net, 1
  for GoogLeNet or ResNet-50).
* an encoder-decoder (a skip joins tensors of equal spatial size across the smallest one:
  U-Net, FPN-like graphs) is drawn as a U: the encoder down the left, the decoder up the
  right, each skip a horizontal edge (``rank=same``); DenseNet layers get thin fan-in
  edges from every earlier layer, bundled at their concat;
* a network too long for one column wraps into several columns (rows with
  ``rankdir="LR"``, which keeps one row while its text stays 14 px), chosen to fit a 16:9
  slide best (the fewest that keep text large enough; a short stem does not take a column
  of its own); the cut is marked by a connector at the bottom of one column and the top
  of the next, named after the tensor that crosses: its binding (``e2``), else the path
  of the module it leaves (``layer2``, ``inception3b``). Past 1,500 nodes
  cnndsl places the nodes itself and ``neato -n2`` draws them (dot's layout is not
  linear).
* ``format="tikz"`` (:mod:`.tikz`): a standalone LaTeX/TikZ figure of 3-D boxes in the
  look of PlotNeuralNet.

Defaults: ``rankdir="TB"``, ``theme="light"``, ``shapes=True``, ``fold=True``;
``to_dot`` and ``render`` default to ``depth=None`` (everything) and the command line to
``depth="auto"``.  Every text is 14 pt (the title 18 pt) in "Helvetica,Arial,sans-serif";
PNGs are rendered at 200 dpi (and say so in a ``pHYs`` chunk); SVGs carry a ``<title>``
with the network's name.  The DOT text is deterministic: node ids come from uids,
cluster names from uids, colours from the category; labels are HTML-escaped.

>>> from cnndsl.api import analyze
>>> a = analyze(source="network N { input 3x32x32; conv 8 3x3 -> bn -> relu; gap; flatten;"
...             " fc 10 }")[0]
>>> g = to_dot(a)
>>> print([line.strip() for line in g.body if "label=<conv" in line][0][:35])
n2 [label=<conv 3×3, 8 · bn · relu>
>>> 'n2 -> n5 [label=" 8×30×30"' in g.source
True
"""

from .dot import Diagram, auto_depth, format_of, is_ours, slide_scale, to_dot
from .style import FORMATS, NO_DOT, PNG_DPI, THEMES, Theme, _luminance, text_colour

__all__ = [
    "FORMATS",
    "NO_DOT",
    "PNG_DPI",
    "THEMES",
    "Diagram",
    "Theme",
    "_luminance",
    "auto_depth",
    "format_of",
    "is_ours",
    "slide_scale",
    "text_colour",
    "to_dot",
]
