"""What each op means, from §8 of the language reference (LANGUAGE.md, "Layers"): its
positional arguments, keywords with defaults, and a short description. Hover shows it with
the op's own signature (:meth:`cnndsl.ops.Op.usage`)."""

from __future__ import annotations

OP_DOCS: dict[str, dict[str, str]] = {
    "adaptive_avgpool": {"keywords": "", "meaning": "", "positional": "size"},
    "adaptive_maxpool": {"keywords": "", "meaning": "", "positional": "size"},
    "avgpool": {
        "keywords": "stride=kernel, pad=0, ceil=false (avgpool: count_pad=true)",
        "meaning": "",
        "positional": "kernel",
    },
    "bn": {"keywords": "eps=1e-5, momentum=0.1, affine=true", "meaning": "", "positional": ""},
    "conv": {
        "keywords": "stride=1, pad=0, dilation=1, groups=1, bias=true, pad_mode=zeros "
        "(zeros, reflect, replicate, circular, symmetric)",
        "meaning": "",
        "positional": "out, kernel",
    },
    "deconv": {
        "keywords": "stride=1, pad=0, output_pad=0, dilation=1, groups=1, bias=true",
        "meaning": "transposed",
        "positional": "out, kernel",
    },
    "dropout": {
        "keywords": "",
        "meaning": "channel dropout: Dropout1d/2d/3d by rank",
        "positional": "p",
    },
    "dropout2d": {
        "keywords": "",
        "meaning": "channel dropout: Dropout1d/2d/3d by rank",
        "positional": "p",
    },
    "dwconv": {
        "keywords": "stride=1, pad=0, dilation=1, mult=1, bias=true",
        "meaning": "depthwise",
        "positional": "kernel",
    },
    "elu": {"keywords": "", "meaning": "", "positional": "alpha=1.0"},
    "fc": {"keywords": "bias=true", "meaning": "alias fc", "positional": "out"},
    "flatten": {"keywords": "", "meaning": "", "positional": ""},
    "gap": {"keywords": "", "meaning": "global average / max pool, C×1×1", "positional": ""},
    "gelu": {"keywords": "", "meaning": "", "positional": ""},
    "gmp": {"keywords": "", "meaning": "global average / max pool, C×1×1", "positional": ""},
    "groupnorm": {"keywords": "eps=1e-5", "meaning": "", "positional": "groups"},
    "hardsigmoid": {"keywords": "", "meaning": "", "positional": ""},
    "hardswish": {"keywords": "", "meaning": "", "positional": ""},
    "identity": {"keywords": "", "meaning": "", "positional": ""},
    "instancenorm": {"keywords": "eps=1e-5", "meaning": "", "positional": ""},
    "layernorm": {"keywords": "eps=1e-5, dim=all (all, channels)", "meaning": "", "positional": ""},
    "leaky_relu": {"keywords": "", "meaning": "", "positional": "slope=0.01"},
    "linear": {
        "details": "`linear` takes a flat input (C), or a channels-last tensor (below), "
        "where it acts on the last dimension as `nn.Linear` does (MACs: "
        "positions × in × out). Applied to a channels-first tensor with spatial "
        "dimensions it is an error whose hint suggests `flatten`, `gap` or "
        "`permute` first.",
        "keywords": "bias=true",
        "meaning": "alias fc",
        "positional": "out",
    },
    "log_softmax": {"keywords": "dim=channels", "meaning": "", "positional": ""},
    "lppool": {"keywords": "p=2, stride=kernel, ceil=false", "meaning": "", "positional": "kernel"},
    "lrn": {"keywords": "alpha=1e-4, beta=0.75, k=1", "meaning": "", "positional": "size"},
    "maxpool": {
        "keywords": "stride=kernel, pad=0, ceil=false (avgpool: count_pad=true)",
        "meaning": "",
        "positional": "kernel",
    },
    "minpool": {
        "keywords": "stride=kernel, pad=0, ceil=false (avgpool: count_pad=true)",
        "meaning": "",
        "positional": "kernel",
    },
    "mish": {"keywords": "", "meaning": "", "positional": ""},
    "permute": {"keywords": "", "meaning": "", "positional": "dims…"},
    "prelu": {"keywords": "per_channel=false", "meaning": "", "positional": ""},
    "relu": {"keywords": "", "meaning": "", "positional": ""},
    "relu6": {"keywords": "", "meaning": "", "positional": ""},
    "scale": {
        "details": "**`scale V`** multiplies by a learnable per-channel factor, initialised "
        "to V (default 1): a parameter of shape C×1×1 (C×1 in 1-D, C×1×1×1 in "
        "3-D) on a channels-first tensor and C on a flat or channels-last one. "
        "It creates no child module: the parameter is an attribute of the "
        "enclosing module, named by the step's name, so `layer_scale: scale "
        "1e-6` gives the `state_dict` key `features.1.0.layer_scale`, as "
        "torchvision's ConvNeXt. Parameters C, MACs one per output element. It "
        "may not be an element of a sequential context (an `nn.Sequential` holds "
        "modules): that is an error whose hint suggests a block.",
        "keywords": "",
        "meaning": "learnable per-channel factor",
        "positional": "value=1.0 (the initial value)",
    },
    "sepconv": {
        "keywords": "stride=1, pad=0, dilation=1, bias=true",
        "meaning": "depthwise then 1×1",
        "positional": "out, kernel",
    },
    "shuffle": {"keywords": "", "meaning": "channel shuffle", "positional": "groups"},
    "sigmoid": {"keywords": "", "meaning": "", "positional": ""},
    "silu": {"keywords": "", "meaning": "", "positional": ""},
    "softmax": {"keywords": "dim=channels", "meaning": "", "positional": ""},
    "stochastic_depth": {
        "details": "**`stochastic_depth p mode=row`** is torchvision's "
        "`StochasticDepth`: in training it zeroes each sample's "
        "(`row`) or the whole batch's (`batch`) input with "
        "probability `p` and scales the survivors by 1/(1−p); in eval "
        "it is the identity. No parameters. It belongs at the end of "
        "a residual body (EfficientNet, ConvNeXt); anywhere else — "
        "including the body of a residual whose condition is false, "
        "which is then a plain body — it is a warning, so guard it "
        "with the same condition (`if stride == 1 { stochastic_depth "
        "p }`), as torchvision applies it only where there is a skip.",
        "keywords": "mode=row (row, batch)",
        "meaning": "",
        "positional": "p",
    },
    "tanh": {"keywords": "", "meaning": "", "positional": ""},
    "upsample": {
        "details": "**`upsample`** takes exactly one of: a scale (positional, `upsample "
        "2`), `size=` (a size, `size=32x32` or `size=size(in.height, "
        "in.width)`), or `like=NAME` (the spatial size of a bound tensor). "
        "`align_corners` applies to the interpolating modes only "
        "(`F.interpolate`'s rule). The modes follow the rank: `linear` 1-D, "
        "`bilinear` and `bicubic` 2-D, `trilinear` 3-D, and `nearest` "
        "everywhere.",
        "keywords": "size, like, mode=nearest (nearest, linear, bilinear, bicubic, "
        "trilinear), align_corners=false",
        "meaning": "",
        "positional": "scale",
    },
}

# What the table says by the op's name alone (PyTorch's layer of the same meaning).
MEANINGS: dict[str, str] = {
    "adaptive_avgpool": "average pooling to a fixed output size (nn.AdaptiveAvgPoolNd)",
    "adaptive_maxpool": "max pooling to a fixed output size (nn.AdaptiveMaxPoolNd)",
    "avgpool": "average pooling (nn.AvgPoolNd)",
    "bn": "batch normalisation (nn.BatchNormNd)",
    "conv": "convolution (nn.ConvNd)",
    "elu": "exponential linear unit (nn.ELU)",
    "flatten": "flattens C×H×W to one vector (nn.Flatten)",
    "gelu": "Gaussian error linear unit (nn.GELU)",
    "groupnorm": "group normalisation (nn.GroupNorm)",
    "hardsigmoid": "piecewise-linear sigmoid (nn.Hardsigmoid)",
    "hardswish": "piecewise-linear swish (nn.Hardswish)",
    "identity": "passes its input through (nn.Identity)",
    "instancenorm": "instance normalisation (nn.InstanceNormNd)",
    "layernorm": "layer normalisation over C×H×W, or over C with dim=channels",
    "leaky_relu": "leaky rectifier (nn.LeakyReLU)",
    "log_softmax": "log of the softmax over the channels (nn.LogSoftmax)",
    "lppool": "power-average pooling (nn.LPPoolNd)",
    "lrn": "local response normalisation (nn.LocalResponseNorm)",
    "maxpool": "max pooling (nn.MaxPoolNd)",
    "minpool": "min pooling: −maxpool(−x)",
    "mish": "Mish activation (nn.Mish)",
    "permute": "reorders the dimensions as torch.permute (0 is the batch)",
    "prelu": "rectifier with a learned slope (nn.PReLU)",
    "relu": "rectifier (nn.ReLU)",
    "relu6": "rectifier capped at 6 (nn.ReLU6)",
    "sigmoid": "logistic sigmoid (nn.Sigmoid)",
    "silu": "sigmoid-weighted linear unit, swish (nn.SiLU)",
    "softmax": "softmax over the channels (nn.Softmax)",
    "stochastic_depth": "drops a residual branch per sample in training (StochasticDepth)",
    "tanh": "hyperbolic tangent (nn.Tanh)",
    "upsample": "resizes by a scale, to a size or like another tensor (nn.Upsample)",
}
