"""A sample image for ``cnndsl predict``: a digit of the test split, as the network sees it.

``make demo`` writes one so that the README's ``predict`` example runs as written::

    python -m cnndsl.training.sample runs/digit.png [--digit 7] [--size 32]

The image is the ``n``-th test image of the class (scikit-learn's digits, the split of
``digits(size=…)`` with seed 0), never one the demo trained on.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from ..fileutil import write_atomic


def write_sample(path: str | Path, digit: int = 7, size: int = 32) -> int:
    """Write the first test-split image of ``digit`` at ``size``×``size`` as a grey PNG;
    returns its index in the test split."""
    from PIL import Image

    from .data import Split, load_data

    test = load_data({"name": "digits", "size": size}, (1, size, size), seed=0).test
    assert isinstance(test, Split)  # the digits are held in memory
    index = int((test.y == digit).nonzero()[0, 0])
    pixels = (test.x[index, 0] * 255).round().clamp(0, 255).byte().numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    write_atomic(Path(path), buffer.getvalue())
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--digit", type=int, default=7, choices=range(10), metavar="0-9")
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args(argv)
    index = write_sample(args.out, args.digit, args.size)
    print(f"wrote {args.out}: a {args.digit} of the digits test split (image {index})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
