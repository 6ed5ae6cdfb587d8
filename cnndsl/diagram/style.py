"""Fonts, sizes, formats and the colour themes (Okabe–Ito light, dark, print)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CnnError

FONT = "Helvetica,Arial,sans-serif"
FONT_SIZE = 14
TITLE_SIZE = 18
PNG_DPI = 200
SLIDE = (1920.0, 1080.0)
FORMATS = ("svg", "png", "pdf", "dot", "tikz")

NO_DOT = CnnError(
    "the `dot` program of graphviz is not installed",
    hint="install it: sudo apt-get install graphviz (Debian/Ubuntu), brew install graphviz "
    "(macOS); --format dot still works",
)

_FOLDABLE = frozenset({"norm", "act", "dropout"})
# the category a folded block takes: the first of these found among its layers
_DOMINANT = (
    "conv",
    "linear",
    "pool",
    "merge",
    "norm",
    "act",
    "dropout",
    "reshape",
    "output",
    "other",
)


# ---------------------------------------------------------------- themes
@dataclass(frozen=True, slots=True)
class Style:
    """How one category of node is drawn."""

    fill: str
    pen: str
    border: str = "solid"  # solid, dashed, dotted
    penwidth: float = 1.4


@dataclass(frozen=True, slots=True)
class Theme:
    """A palette: background, edges, clusters and one :class:`Style` per category."""

    name: str
    background: str
    text: str
    edge: str
    edge_text: str
    cluster_fill: tuple[str, str]  # alternating by nesting level
    cluster_pen: str
    styles: dict[str, Style] = field(hash=False)

    def style(self, category: str) -> Style:
        return self.styles.get(category, self.styles["other"])


def _mix(colour: str, other: str, t: float) -> str:
    """``t`` of ``colour`` and ``1 - t`` of ``other``, as ``#RRGGBB``.

    >>> _mix("#0072B2", "#FFFFFF", 0.2)
    '#CCE3F0'
    """
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x * t + y * (1 - t)):02X}" for x, y in zip(a, b, strict=True))


def _luminance(colour: str) -> float:
    def chan(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (chan(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(fill: str) -> str:
    """Black or white, whichever contrasts more with ``fill`` (WCAG contrast ratio).

    >>> text_colour("#F0E442"), text_colour("#10445F")
    ('#000000', '#FFFFFF')
    """
    lum = _luminance(fill)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#FFFFFF"


# Okabe & Ito (2008), "Color universal design".
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
_HUES = {
    "conv": OKABE_ITO["blue"],
    "pool": OKABE_ITO["vermillion"],
    "merge": OKABE_ITO["bluish_green"],
    "output": OKABE_ITO["yellow"],
    "norm": OKABE_ITO["sky_blue"],
    "act": OKABE_ITO["orange"],
    "linear": OKABE_ITO["reddish_purple"],
}
_TINT = {"conv": 0.22, "pool": 0.25, "merge": 0.28, "norm": 0.16, "act": 0.18, "linear": 0.25}


def _light() -> Theme:
    white = "#FFFFFF"
    styles = {
        cat: Style(_mix(h, white, _TINT[cat]), h) for cat, h in _HUES.items() if cat != "output"
    }
    styles["output"] = Style(OKABE_ITO["yellow"], "#A39A00", penwidth=2.0)
    styles["dropout"] = Style("#F2F2F2", "#8C8C8C", "dashed")
    styles["reshape"] = Style(white, "#8C8C8C")
    styles["other"] = Style(white, "#595959")
    styles["input"] = Style("#EBEBEB", "#595959")
    styles["connector"] = Style(white, "#8C8C8C")
    return Theme(
        "light",
        "#FFFFFF",
        "#000000",
        "#404040",
        "#404040",
        ("#F7F7F7", "#EDEDED"),
        "#A6A6A6",
        styles,
    )


def _dark() -> Theme:
    bg = "#1E1E1E"
    styles = {
        cat: Style(_mix(h, bg, 0.42), _mix(h, "#FFFFFF", 0.8))
        for cat, h in _HUES.items()
        if cat != "output"
    }
    styles["output"] = Style(OKABE_ITO["yellow"], "#FFF7A8", penwidth=2.0)
    styles["dropout"] = Style("#333333", "#9E9E9E", "dashed")
    styles["reshape"] = Style("#2B2B2B", "#9E9E9E")
    styles["other"] = Style("#2B2B2B", "#BDBDBD")
    styles["input"] = Style("#3A3A3A", "#BDBDBD")
    styles["connector"] = Style(bg, "#9E9E9E")
    return Theme(
        "dark", bg, "#F2F2F2", "#BDBDBD", "#D0D0D0", ("#262626", "#2E2E2E"), "#5C5C5C", styles
    )


def _print() -> Theme:
    # Greys only: fill lightness and border style tell the categories apart.
    styles = {
        "conv": Style("#D4D4D4", "#000000", "solid", 1.6),
        "pool": Style("#FFFFFF", "#000000", "dashed", 1.6),
        "merge": Style("#A8A8A8", "#000000", "solid", 1.6),
        "output": Style("#FFFFFF", "#000000", "solid", 3.0),
        "norm": Style("#F0F0F0", "#000000", "dotted", 1.4),
        "act": Style("#FFFFFF", "#000000", "dotted", 1.4),
        "dropout": Style("#FFFFFF", "#6E6E6E", "dashed", 1.0),
        "linear": Style("#E6E6E6", "#000000", "solid", 2.6),
        "reshape": Style("#FFFFFF", "#6E6E6E", "solid", 1.0),
        "other": Style("#FFFFFF", "#000000", "solid", 1.0),
        "input": Style("#FFFFFF", "#000000", "solid", 1.0),
        "connector": Style("#FFFFFF", "#6E6E6E", "solid", 1.0),
    }
    return Theme(
        "print",
        "#FFFFFF",
        "#000000",
        "#000000",
        "#333333",
        ("#FFFFFF", "#F5F5F5"),
        "#000000",
        styles,
    )


THEMES: dict[str, Theme] = {t.name: t for t in (_light(), _dark(), _print())}
