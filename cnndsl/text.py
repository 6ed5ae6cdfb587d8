"""How numbers and shapes read in messages, tables and diagrams (one place for all)."""

from __future__ import annotations

from collections.abc import Iterable


def number(v: float) -> str:
    """``3``, ``0.5``: integers without a decimal point.

    >>> number(3.0), number(0.5), number(1 / 3)
    ('3', '0.5', '0.3333')
    """
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def size_text(values: Iterable[float]) -> str:
    """A shape or size: ``64×56×56``, ``3×3``, ``0.5×0.5``.

    >>> size_text((64, 56, 56))
    '64×56×56'
    """
    return "×".join(number(v) for v in values)


def human(n: float) -> str:
    """1234567 -> ``1.23M``.

    >>> human(1_814_073_344), human(512)
    ('1.81G', '512')
    """
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))
