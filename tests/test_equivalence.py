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
    # the declared size, and (one writer suffices) another: both accept any size (§8)
    sizes = [(224, 224)] + ([(256, 192)] if strategy == "symbolic" else [])
    for size in sizes:
        x = torch.randn(2, 3, *size, generator=INPUT)
        with torch.no_grad():
            a, b = ours(x), ref(x)
        rel = ((a - b).abs().max() / b.abs().max()).item()
        print(f"{name} at {size}: largest relative difference {rel:.3g}")
        assert rel <= 1e-5


# ---------------------------------------------------------------- the second edition's examples
def _deeplab() -> torch.nn.Module:
    from torchvision.models import segmentation

    return segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=False
    )


# file, torchvision constructor, two input sizes (declared-size models at 224 and another)
SECOND = [
    ("efficientnet_b0", lambda: torchvision.models.efficientnet_b0(), (224, 224), (256, 192)),
    ("mobilenet_v3_large", lambda: torchvision.models.mobilenet_v3_large(), (224, 224), (192, 256)),
    ("convnext_tiny", lambda: torchvision.models.convnext_tiny(), (224, 224), (256, 192)),
    ("shufflenet_v2", lambda: torchvision.models.shufflenet_v2_x1_0(), (224, 224), (160, 288)),
    ("regnet_y_400mf", lambda: torchvision.models.regnet_y_400mf(), (224, 224), (256, 192)),
    ("deeplabv3_resnet50", _deeplab, (129, 97), (160, 128)),
]


def _redraw(state: dict[str, torch.Tensor]) -> None:
    """Norm statistics and layer scales at random, so that identity-initialised layers (BN
    with mean 0 and variance 1, layer scales of 1e-6) cannot hide a wrong wiring."""
    g = torch.Generator().manual_seed(1)
    for key, value in state.items():
        if key.endswith("running_mean"):
            value.copy_(torch.randn(value.shape, generator=g) * 0.2)
        elif key.endswith("running_var"):
            value.copy_(torch.rand(value.shape, generator=g) + 0.5)
        elif key.endswith("layer_scale"):
            value.copy_(torch.randn(value.shape, generator=g) * 0.5)


@pytest.mark.parametrize("name, make, size1, size2", SECOND, ids=[c[0] for c in SECOND])
def test_second_edition_examples_equal_torchvision(
    name: str, make: object, size1: tuple[int, int], size2: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    ref = make()  # type: ignore[operator]
    ours = cnndsl.load(ROOT / "examples" / f"{name}.cnn")
    state = ref.state_dict()
    _redraw(state)
    ref.load_state_dict(state, strict=True)
    ours.load_state_dict(state, strict=True)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in state.items()
    }
    ours.eval()
    ref.eval()
    for size in (size1, size2):
        x = torch.randn(2, 3, *size, generator=INPUT)
        with torch.no_grad():
            a, b = ours(x), ref(x)
        if isinstance(b, dict):
            b = b["out"]
        rel = ((a - b).abs().max() / b.abs().max()).item()
        print(f"{name} at {size}: largest relative difference {rel:.3g}")
        assert a.shape == b.shape
        assert rel <= 1e-5
