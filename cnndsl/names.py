"""The name rules of the language reference §5, in one place.

Which names a label, template result, tensor or output may take (:func:`check_name`), how a
block call's automatic name is formed (:func:`snake`), and the names that generated Python
itself uses, which the code generator must never let a user's name shadow.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Collection

from .errors import CnnError, Span

MERGE_KINDS = ("concat", "add", "mul")  # also merges of bound tensors: concat(a, b)
MERGE_STATEMENTS = (*MERGE_KINDS, "split")
# parameter names the generated constructors use themselves (§5, "Valid names")
RESERVED_PARAMS = ("self", "in_channels", "in_length", "in_depth", "in_height", "in_width")

# Attributes of torch.nn.Module (checked against torch by tests/test_ir.py); a module name
# may not shadow them, nor be a Python keyword or a dunder.
NN_MODULE_ATTRS = frozenset(
    """
T_destination _apply _call_impl _compiled_call_impl _get_backward_hooks
_get_backward_pre_hooks _get_name _load_from_state_dict _maybe_warn_non_full_backward_hook
_named_members _register_load_state_dict_pre_hook _register_state_dict_hook
_replicate_for_data_parallel _save_to_state_dict _slow_forward _version _wrapped_call_impl
add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children
named_modules named_parameters parameters register_backward_hook register_buffer
register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter
register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
set_submodule share_memory state_dict to to_empty train type xpu zero_grad
training _parameters _buffers _modules _non_persistent_buffers_set _backward_hooks
_backward_pre_hooks _forward_hooks _forward_pre_hooks _state_dict_hooks
_load_state_dict_pre_hooks _load_state_dict_post_hooks _is_full_backward_hook
""".split()
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_name(name: str, span: Span, what: str = "module name") -> None:
    """A label, template result or output name must be a safe Python attribute name."""
    if not _IDENT.match(name):
        raise CnnError(
            f"invalid {what} {name!r}", span, "names are ASCII identifiers: letters, digits and _"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise CnnError(
            f"invalid {what} {name!r}: it is a Python keyword",
            span,
            f"choose another name, e.g. {name}_",
        )
    if name.startswith("__") and name.endswith("__"):
        raise CnnError(
            f"invalid {what} {name!r}: dunder names are reserved",
            span,
            f"choose another name, e.g. {name.strip('_') or 'x'}",
        )
    if name in NN_MODULE_ATTRS:
        raise CnnError(
            f"invalid {what} {name!r}: it would shadow nn.Module.{name}",
            span,
            f"choose another name, e.g. {name}_",
        )


def check_label(name: str, quoted: bool, span: Span) -> None:
    """A label's name (§5): an unquoted label or template is a safe Python identifier
    (:func:`check_name`); a string label is any name ``add_module`` accepts, except a dunder
    or an attribute of nn.Module."""
    if not quoted:
        check_name(name, span)
        return
    if not name:
        raise CnnError("a module name may not be empty", span, 'write a name, e.g. "0"')
    if "." in name:
        raise CnnError(
            f"invalid module name {name!r}: it holds a '.'",
            span,
            "PyTorch's module paths use '.' as the separator; use '_' or '-'",
        )
    if len(name) > 256:
        raise CnnError(
            "name longer than the limit of 256 characters", span, "choose a shorter name"
        )
    if name.startswith("__") and name.endswith("__"):
        raise CnnError(
            f"invalid module name {name!r}: dunder names are reserved",
            span,
            f"choose another name, e.g. {name.strip('_') or 'x'}",
        )
    if name in NN_MODULE_ATTRS:
        raise CnnError(
            f"invalid module name {name!r}: it would shadow nn.Module.{name}",
            span,
            f"choose another name, e.g. {name}_",
        )
    if any(not c.isprintable() for c in name):
        raise CnnError(
            f"invalid module name {name!r}: it holds a control character", span, "remove it"
        )


def auto_name(prefix: str, n: int, used: Collection[str]) -> tuple[str, int]:
    """§5's automatic name from counter ``n``: ``prefix{n}``, skipping names a label uses.

    Returns the name and its number (the counter goes on from the next one). The checker's
    namer and the code generator's both name through this.

    >>> auto_name("conv", 1, {"conv1", "conv2"})
    ('conv3', 3)
    """
    while f"{prefix}{n}" in used:
        n += 1
    return f"{prefix}{n}", n


def snake(name: str) -> str:
    """``BasicBlock`` -> ``basic_block``, ``SE`` -> ``se``, ``SEBlock`` -> ``se_block``.

    >>> snake("BasicConv2d"), snake("InceptionAux"), snake("SE"), snake("SEBlock")
    ('basic_conv2d', 'inception_aux', 'se', 'se_block')
    """
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", out)
    return out.lower()


# ---------------------------------------------------------------- names in generated Python
# What the generated module itself names at module level: its imports, its helpers and the
# typing names it uses. A user's block, network, parameter or tensor never takes one of them
# (nor a Python keyword or builtin): the generated code gives it a trailing ``_`` instead.
GENERATED_NAMES = frozenset(
    """
torch nn F Tensor math OrderedDict NamedTuple Any Merge _pad _ceil_crop _make_divisible
Conv1dPad Conv2dPad Conv3dPad MaxPool1dPad MaxPool2dPad MaxPool3dPad MinPool1dPad
MinPool2dPad MinPool3dPad AvgPool1dPad AvgPool2dPad AvgPool3dPad SeparableConv1d
SeparableConv2d SeparableConv3d ConvTranspose1dCrop ConvTranspose2dCrop ConvTranspose3dCrop
self x
""".split()
)
_PY_RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | GENERATED_NAMES


def is_python_reserved(name: str) -> bool:
    """A Python keyword, a builtin or a module-level name of the generated code."""
    return name in _PY_RESERVED


def python_name(name: str, taken: set[str]) -> str:
    """The Python name for a user's ``name``: itself, unless that would shadow a keyword,
    a builtin, a name of the generated module or a name in ``taken``; then ``name_``,
    ``name_2``, …  The result is added to ``taken``.

    >>> taken = {"conv"}
    >>> python_name("torch", taken), python_name("len", taken), python_name("c", taken)
    ('torch_', 'len_', 'c')
    >>> python_name("conv", taken), python_name("torch", taken)
    ('conv_', 'torch_2')
    """
    out, n = name, 1
    while out in _PY_RESERVED or out in taken:
        out = f"{name}_" if n == 1 else f"{name}_{n}"
        n += 1
    taken.add(out)
    return out


def param_names(params: list[str]) -> dict[str, str]:
    """Each block or network parameter's name in the generated constructor.

    >>> param_names(["c", "len", "stride"])
    {'c': 'c', 'len': 'len_', 'stride': 'stride'}
    """
    taken = {*RESERVED_PARAMS, "x"}
    return {name: python_name(name, taken) for name in params}
