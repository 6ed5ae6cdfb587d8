"""Diagnostics: errors and warnings that carry a source position.

A user mistake is a :class:`CnnError`; it is printed as ``file:line:col: error: message``,
followed by the source line with a caret under the span and, where one helps, a hint.

>>> span = Span("net.cnn", 2, 5, 2, 9)
>>> print(Diagnostic("error", "unknown op 'cnov'", span, "did you mean 'conv'?").format(
...     "network N {\\n    cnov 8 3x3\\n}"))
net.cnn:2:5: error: unknown op 'cnov'
    cnov 8 3x3
    ^^^^
hint: did you mean 'conv'?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple


class Span(NamedTuple):
    """A source range: 1-based line and column of the first and one past the last character.

    A named tuple: immutable, hashable and cheap to create (the parser makes one per node).
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Span("<unknown>", 1, 1, 1, 1)


SHOWN_LINE = 120  # characters of a source line a message shows


def source_lines(text: str) -> list[str]:
    """The lines of a source as the lexer counts them: ``\\n``, ``\\r\\n`` and a lone ``\\r``
    end a line; form feeds, U+0085 and U+2028 do not (``str.splitlines`` would split there,
    and a message would show another line than the one it names)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error or warning, with its position and an optional hint."""

    severity: str  # "error" or "warning"
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[str, ...] = ()

    def format(self, source: str | None = None) -> str:
        """Render as ``file:line:col: severity: message`` + source line + caret + hint."""
        if self.span == NOWHERE:  # not about a place in a file (options, data, a run)
            out = [f"cnndsl: {self.severity}: {self.message}"]
            if self.hint:
                out.append(f"hint: {self.hint}")
            return "\n".join(out)
        out = [f"{self.span}: {self.severity}: {self.message}"]
        if source is not None:
            lines = source_lines(source)
            if 1 <= self.span.line <= len(lines):
                text = lines[self.span.line - 1].expandtabs(1)
                col = max(self.span.column, 1)
                if self.span.end_line == self.span.line and self.span.end_column > col:
                    width = self.span.end_column - col
                else:
                    width = max(len(text) - col + 1, 1)
                width = max(min(width, len(text) - col + 1), 1)
                if len(text) > SHOWN_LINE:  # a window of a very long line around the span
                    start = max(0, min(col - 1 - SHOWN_LINE // 4, len(text) - SHOWN_LINE))
                    head = "…" if start else ""
                    tail = "…" if start + SHOWN_LINE < len(text) else ""
                    text = head + text[start : start + SHOWN_LINE] + tail
                    col = col - start + len(head)
                    width = min(width, SHOWN_LINE - (col - 1 - len(head)))
                out.append(text)
                out.append(" " * (col - 1) + "^" * max(width, 1))
        if self.hint:
            out.append(f"hint: {self.hint}")
        out += [f"note: {note}" for note in self.notes]
        return "\n".join(out)


class CnnError(Exception):
    """A mistake in a ``.cnn`` file (or in the options given for it), with its position."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span or NOWHERE
        self.hint = hint
        self.notes: list[str] = []  # where it happened: "in BasicBlock(64), called at …"

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic("error", self.message, self.span, self.hint, tuple(self.notes))

    def __str__(self) -> str:
        return self.diagnostic.format()


@dataclass(slots=True)
class Warnings:
    """Collects warnings (suspicious but legal things) during elaboration."""

    items: list[Diagnostic] = field(default_factory=list)
    seen: set[tuple[str, Span, str | None]] = field(default_factory=set, repr=False)

    def warn(self, message: str, span: Span, hint: str | None = None) -> None:
        key = (message, span, hint)  # one warning per place and text, found in O(1)
        if key not in self.seen:
            self.seen.add(key)
            self.items.append(Diagnostic("warning", message, span, hint))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, if any is close.

    >>> did_you_mean("cnov", ["conv", "bn", "relu"])
    "did you mean 'conv'?"
    """
    import difflib  # only when a name is unknown: keeps start-up fast

    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class Terminated(KeyboardInterrupt):
    """SIGTERM (as schedulers send it), handled like Ctrl-C: a run saves and stops (exit 143)."""


def exit_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Terminated` in this process (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)
