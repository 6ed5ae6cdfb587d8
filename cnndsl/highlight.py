"""A Pygments lexer for ``.cnn`` files (``pygmentize -l cnn``, Sphinx, minted, reveal.js).

Registered as the ``pygments.lexers`` entry point ``cnn``. Op names come from the op
registry and function names from the expression module, so a new op is highlighted as
soon as it exists.

>>> from pygments.token import Name
>>> [t for t in CnnLexer().get_tokens("conv 64 3x3") if t[0] is Name.Builtin]
[(Token.Name.Builtin, 'conv')]
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words  # type: ignore[import-untyped]
from pygments.token import (  # type: ignore[import-untyped]
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from .expr import FUNCTIONS
from .ops import REGISTRY

KEYWORDS = (
    "network", "block", "input", "import", "train", "let", "if", "else", "repeat", "as",
    "residual", "shortcut", "concat", "add", "mul", "split", "output", "init",
)  # fmt: skip
CONSTANTS = ("true", "false")
WORD_OPERATORS = ("and", "or", "not")
OPS = tuple(sorted(REGISTRY, key=len, reverse=True))

_ID = r"[A-Za-z_][A-Za-z0-9_]*"


class CnnLexer(RegexLexer):
    """The ``.cnn`` network description language of cnndsl."""

    name = "cnn"
    aliases = ["cnn", "cnndsl"]
    filenames = ["*.cnn"]
    mimetypes = ["text/x-cnn"]
    url = "https://github.com/cnndsl/cnndsl"

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"(\\\\|\\"|[^"\n])*"(?=\s*:(?!=))', Name.Label),  # a string label "0":
            (r'"(\\\\|\\"|[^"\n])*"', String.Double),
            (r"(in)(\.)(" + _ID + ")", bygroups(Keyword.Pseudo, Operator, Name.Variable.Magic)),
            (r"(block|network)(\s+)(" + _ID + ")", bygroups(Keyword, Whitespace, Name.Class)),
            # a label (also a keyword: `block: {`) and a template label `conv{i}_a:`
            (_ID + r"(?=(\{[^{}\n]*\}" + r"[A-Za-z0-9_]*)*\s*:(?!=))", Name.Label),
            (r"(" + _ID + r")(\()", bygroups(Name.Function, Punctuation)),
            (_ID + r"(?==)(?!==)", Name.Attribute),  # key=value
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(WORD_OPERATORS, suffix=r"\b"), Operator.Word),
            (words(OPS, suffix=r"\b"), Name.Builtin),
            (words(FUNCTIONS, suffix=r"\b"), Name.Function.Magic),
            (r"[0-9]+(x[0-9]+)+(?![A-Za-z0-9_])", Number.Integer),  # a size 3x3
            (r"([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (_ID, Name),
            (r"->", Operator),
            (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=.]", Operator),
            (r"[{}()\[\],;:]", Punctuation),
            ("\u2026", Punctuation),  # "…": elided code in documentation and slides
        ],
    }
