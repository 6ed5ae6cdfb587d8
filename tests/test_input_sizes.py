"""Every example runs at its declared input size and at another one (§8, "Input sizes in
generated code"): the compiled module's output shape equals the checker's for that size
(`check --input`); a network whose weights fix its size (a `linear` after `flatten`) refuses
another size with a clear message naming the layer and the size it needs."""

from __future__ import annotations

import pytest
import torch
from conftest import EXAMPLES, ROOT

import cnndsl
from cnndsl.api import load_networks
from cnndsl.codegen.edition2 import other_size
from cnndsl.errors import CnnError

CASES = [(path.stem, net.name, net.input_shape) for path in EXAMPLES for net in load_networks(path)]


def _fixed(stem: str, network: str, shape: tuple[int, ...]) -> bool:
    """The checker's view: does the network's parameter count depend on the input size?"""
    from cnndsl.api import analyze

    path = ROOT / "examples" / f"{stem}.cnn"
    (a,) = analyze(path, network=network)
    try:
        (b,) = analyze(path, network=network, input_shape=shape)
    except CnnError:
        return True
    return a.params != b.params


@pytest.mark.parametrize("stem, network, declared", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_runs_at_declared_and_other_size(
    stem: str, network: str, declared: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    path = ROOT / "examples" / f"{stem}.cnn"
    model = cnndsl.load(path, network=network)
    model.eval()
    other = other_size(declared)  # +32 px per side, +37 samples in 1-D, +4 frames in 3-D
    for shape in (declared, other):
        if shape != declared and _fixed(stem, network, shape):
            with pytest.raises(ValueError, match=r"accepts only .* input") as info:
                with torch.no_grad():
                    model(torch.randn(1, *shape))
            assert "×".join(map(str, declared)) in str(info.value)
            continue
        (net,) = load_networks(path, network=network, input_shape=shape)
        with torch.no_grad():
            out = model(torch.randn(1, *shape))
        assert tuple(out.shape[1:]) == tuple(net.output_shape), shape
