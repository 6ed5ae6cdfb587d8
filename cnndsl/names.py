"""The name rules of the language reference §5, in one place.

Which names a label, template result, tensor or output may take (:func:`check_name`), how a
block call's automatic name is formed (:func:`snake`), and the names that generated Python
itself uses, which the code generator must never let a user's name shadow.
"""

from __future__ import annotations

import keyword
import re

from .errors import CnnError, Span

MERGE_KINDS = ("concat", "add", "mul")

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


def snake(name: str) -> str:
    """``BasicBlock`` -> ``basic_block``, ``SE`` -> ``se``, ``SEBlock`` -> ``se_block``.

    >>> snake("BasicConv2d"), snake("InceptionAux"), snake("SE"), snake("SEBlock")
    ('basic_conv2d', 'inception_aux', 'se', 'se_block')
    """
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", out)
    return out.lower()
