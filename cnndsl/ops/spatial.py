"""Shared arithmetic of sliding windows: padding resolution and output sizes."""

from __future__ import annotations

from ..text import size_text
from . import ShapeError

Pads = tuple[tuple[int, int], ...]


def resolve_padding(
    pad: str | tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    sizes: tuple[int, ...],
) -> Pads:
    """(before, after) padding per dim for ``pad`` = int size, ``same``, ``valid`` or ``full``.

    ``same`` gives ``ceil(i / stride)`` outputs, the odd cell at the end (as TensorFlow does).

    >>> resolve_padding("same", (3, 3), (2, 2), (1, 1), (224, 224))
    ((0, 1), (0, 1))
    >>> resolve_padding("full", (3,), (1,), (2,), (10,))
    ((4, 4),)
    """
    if pad == "valid":
        return tuple((0, 0) for _ in kernel)
    if pad == "full":
        return tuple((d * (k - 1), d * (k - 1)) for k, d in zip(kernel, dilation, strict=True))
    if pad == "same":
        out = []
        for i, k, s, d in zip(sizes, kernel, stride, dilation, strict=True):
            o = -(-i // s)
            total = max((o - 1) * s + d * (k - 1) + 1 - i, 0)
            out.append((total // 2, total - total // 2))
        return tuple(out)
    assert isinstance(pad, tuple)
    return tuple((p, p) for p in pad)


def window_out(
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    pads: Pads,
    ceil: bool = False,
) -> tuple[int, ...]:
    """Output size per dim of a sliding window; errors for a kernel larger than the input.

    With ``ceil`` it follows PyTorch's pools: the last window may not start in the end padding.
    """
    out = []
    for dim, (i, k, s, d, (pb, pa)) in enumerate(
        zip(sizes, kernel, stride, dilation, pads, strict=True)
    ):
        eff = d * (k - 1) + 1
        padded = i + pb + pa
        if eff > padded and not (ceil and s > 1):
            what = f"kernel {k}" + (f" (dilated to {eff})" if eff != k else "")
            raise ShapeError(
                f"{what} is larger than its padded input {padded} in dimension {dim + 1}",
                "pad the input (e.g. pad=same) or use a smaller kernel, or drop a pooling "
                "step before it",
                arg="kernel",
            )
        if ceil:
            o = -(-(padded - eff) // s) + 1
            if (o - 1) * s >= i + pb:
                o -= 1
        else:
            o = (padded - eff) // s + 1
        if o <= 0:
            raise ShapeError(f"non-positive output size {o} in dimension {dim + 1}")
        out.append(o)
    return tuple(out)


def dropped_rows(
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    pads: Pads,
) -> bool:
    """True when a stride leaves trailing input rows or columns that no window reaches.

    Windows smaller than their stride skip cells everywhere by design (a 1×1 stride-2
    projection), so only tiling windows (kernel >= stride) are reported.
    """
    for i, k, s, d, (pb, pa) in zip(sizes, kernel, stride, dilation, pads, strict=True):
        eff = d * (k - 1) + 1
        if 1 < s <= eff and (i + pb + pa - eff) % s > pa:
            return True
    return False


def stride_text(stride: tuple[int, ...]) -> str:
    if all(s == 1 for s in stride):
        return ""
    if len(set(stride)) == 1:
        return f", /{stride[0]}"
    return ", /" + size_text(stride)
