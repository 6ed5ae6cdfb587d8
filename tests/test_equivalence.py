"""Weight-for-weight equivalence with torchvision (the reference implementations)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from conftest import ROOT, build_concrete

import cnndsl

MODELS = [
    "alexnet",
    "vgg16",
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "densenet121",
    "mobilenet_v2",
]
INPUT = torch.Generator().manual_seed(0)


def _torchvision(name: str) -> torch.nn.Module:
    kwargs: dict[str, object] = {}
    if name in ("vgg16", "googlenet"):
        kwargs["init_weights"] = True
    if name == "googlenet":
        kwargs["aux_logits"] = True
    return getattr(torchvision.models, name)(weights=None, **kwargs)


@pytest.mark.parametrize("strategy", ["symbolic", "concrete"])
@pytest.mark.parametrize("name", MODELS)
def test_same_state_dict_and_same_outputs(name: str, strategy: str) -> None:
    """Both code generators (the symbolic translator and the IR printer, its fallback)."""
    torch.manual_seed(0)
    path = ROOT / "examples" / ("mobilenet.cnn" if name == "mobilenet_v2" else f"{name}.cnn")
    network = "MobileNetV2" if name == "mobilenet_v2" else None
    if strategy == "concrete":
        ours = build_concrete(path, network)
    else:
        ours = cnndsl.load(path, network=network)
    ref = _torchvision(name)
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert ours_shapes == ref_shapes
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 3, 224, 224, generator=INPUT)
    with torch.no_grad():
        a, b = ours(x), ref(x)
    rel = ((a - b).abs().max() / b.abs().max()).item()
    print(f"{name}: largest relative difference {rel:.3g}")
    assert rel <= 1e-5
