"""The fuzzer's only contact with cnndsl's API: check a program, compile a program.

Keep these two adapters working when modules move; nothing else in ``fuzzkit`` imports
cnndsl (except ``harness``'s read-only use of the IR and analysis objects they return).
"""

from __future__ import annotations

import os
from typing import Any

FILENAME = "fuzz.cnn"
# "auto" (what users get), "symbolic" (the translator alone) or "concrete" (the IR printer)
STRATEGY = os.environ.get("CNNDSL_FUZZ_STRATEGY", "auto")


def check(source: str) -> list[Any]:
    """Parse, elaborate and shape-check: one ``Analysis`` per network.

    Raises ``cnndsl.errors.CnnError`` when the program is rejected.
    """
    from cnndsl.api import analyze

    return analyze(source=source, filename=FILENAME)


def check_at(
    source: str, network: str, input_shape: tuple[int, ...] | None
) -> tuple[Any, list[str]]:
    """``network`` checked at another input size (``check --input``; None: the declared one):
    its ``Analysis`` and the messages of check's warnings.

    Raises ``cnndsl.errors.CnnError`` when the network does not take that size.
    """
    from cnndsl.api import analyze
    from cnndsl.errors import Warnings

    notes = Warnings()
    (analysis,) = analyze(
        source=source,
        filename=FILENAME,
        network=network,
        warnings=notes,
        input_shape=input_shape,
    )
    return analysis, [d.message for d in notes.items]


def check_with(source: str, network: str, params: dict[str, Any]) -> Any:
    """``network`` checked with other values of its parameters (``check -p``): its
    ``Analysis``. Raises ``cnndsl.errors.CnnError`` when the values are refused."""
    from cnndsl.api import analyze

    (analysis,) = analyze(source=source, filename=FILENAME, network=network, overrides=params)
    return analysis


def network_params(source: str, network: str) -> list[str]:
    """``network``'s parameter names in declaration order (the generated class takes them in
    the same order)."""
    from cnndsl.program import load_program

    program = load_program(source=source, filename=FILENAME)
    (net,) = [n for n in program.networks if n.name == network]
    return [p.name for p in net.params]


def compile(source: str) -> str | None:  # noqa: A001 - the name the brief asks for
    """The whole file compiled to Python source (None when it defines no network).

    Raises ``cnndsl.errors.CnnError`` when the program is rejected.
    """
    from cnndsl.codegen import compile_program
    from cnndsl.program import load_program

    program = load_program(source=source, filename=FILENAME)
    return compile_program(program, FILENAME, strategy=STRATEGY)


def class_name(source: str, network: str) -> str:
    """The Python class the compiled module gives ``network`` (its name, unless that would
    shadow a name the generated code uses)."""
    from cnndsl.codegen import class_names
    from cnndsl.program import load_program

    return class_names(load_program(source=source, filename=FILENAME))[("network", network)]


def error_type() -> type[Exception]:
    """The exception class both adapters raise on rejection."""
    from cnndsl.errors import CnnError

    return CnnError
