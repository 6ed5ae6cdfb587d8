"""The parser: every construct of the language, spans, the round trip of every example."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from cnndsl import syntax as s
from cnndsl.errors import CnnError
from cnndsl.parser import build_strict, parse
from cnndsl.unparse import unparse

N = s.Name
L = s.Lit


def body(src: str) -> tuple[s.Stmt, ...]:
    """Parse statements inside a network body."""
    tree = parse("network T {\n" + src + "\n}")
    net = tree.items[0]
    assert isinstance(net, s.NetworkDef)
    return net.body.body


def steps(src: str) -> tuple[s.Step, ...]:
    (chain,) = body(src)
    assert isinstance(chain, s.Chain)
    return chain.steps


def test_grammar_is_lalr_without_conflicts() -> None:
    build_strict()  # strict=True raises on any shift/reduce conflict or terminal collision


CASES = {
    "layer with positional and keyword arguments": (
        "conv 64 3x3 stride=2 pad=same",
        (
            s.Layer(
                "conv",
                (L(64), L(s.Size((3, 3)))),
                (s.Kwarg("stride", L(2)), s.Kwarg("pad", N("same"))),
            ),
        ),
    ),
    "parenthesised positional": (
        "conv (c * 4) 1x1",
        (s.Layer("conv", (s.BinOp("*", N("c"), L(4)), L(s.Size((1, 1)))), ()),),
    ),
    "keyword value is any expression": (
        "conv 8 3 stride=s * 2",
        (s.Layer("conv", (L(8), L(3)), (s.Kwarg("stride", s.BinOp("*", N("s"), L(2))),)),),
    ),
    "chain": (
        "conv 8 3 -> bn -> relu",
        (s.Layer("conv", (L(8), L(3)), ()), s.Layer("bn", (), ()), s.Layer("relu", (), ())),
    ),
    "labels anywhere in a chain": (
        "a: conv 8 1x1 -> b: bn",
        (
            s.Labelled(s.Label(("a",)), s.Layer("conv", (L(8), L(s.Size((1, 1)))), ())),
            s.Labelled(s.Label(("b",)), s.Layer("bn", (), ())),
        ),
    ),
    "block call and repetition": (
        "Bottleneck(128, stride=2) -> BasicBlock(64) * 2",
        (
            s.Call("Bottleneck", (L(128),), (s.Kwarg("stride", L(2)),)),
            s.Repetition(s.Call("BasicBlock", (L(64),), ()), L(2)),
        ),
    ),
    "group and empty group": (
        "{ relu -> relu } -> {}",
        (s.Group((s.Chain((s.Layer("relu", (), ()), s.Layer("relu", (), ()))),)), s.Group(())),
    ),
    "group repetition": (
        "{ relu } * n",
        (s.Repetition(s.Group((s.Chain((s.Layer("relu", (), ()),)),)), N("n")),),
    ),
    "merge": (
        "concat { relu ; {} }",
        (s.Merge("concat", (s.Chain((s.Layer("relu", (), ()),)), s.Chain((s.Group(()),)))),),
    ),
    "residual with conditions": (
        "residual if a { relu } shortcut if b { bn }",
        (
            s.Residual(
                N("a"),
                s.Group((s.Chain((s.Layer("relu", (), ()),)),)),
                N("b"),
                s.Group((s.Chain((s.Layer("bn", (), ()),)),)),
            ),
        ),
    ),
    "repeat as i with a template label": (
        "repeat 3 as i { layer{i + 1}: relu }",
        (
            s.Repeat(
                L(3),
                "i",
                s.Group(
                    (
                        s.Chain(
                            (
                                s.Labelled(
                                    s.Label(("layer", s.BinOp("+", N("i"), L(1)))),
                                    s.Layer("relu", (), ()),
                                ),
                            )
                        ),
                    )
                ),
            ),
        ),
    ),
    "if / else if / else": (
        "if a { relu } else if b { tanh } else {}",
        (
            s.If(
                N("a"),
                s.Group((s.Chain((s.Layer("relu", (), ()),)),)),
                s.If(N("b"), s.Group((s.Chain((s.Layer("tanh", (), ()),)),)), s.Group(())),
            ),
        ),
    ),
    "merge of bound tensors": (
        "concat(e2, up2) -> relu",
        (s.Call("concat", (N("e2"), N("up2")), ()), s.Layer("relu", (), ())),
    ),
    "input": ("input 3x224x224", (s.Input(L(s.Size((3, 224, 224)))),)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_construct(name: str) -> None:
    src, expected = CASES[name]
    assert steps(src) == expected


def test_statements() -> None:
    stmts = body("let w = 2 * c\ne = relu\noutput aux weight=0.3: fc 10\ne")
    assert stmts == (
        s.Let("w", s.BinOp("*", L(2), N("c"))),
        s.Bind("e", s.Chain((s.Layer("relu", (), ()),))),
        s.Output("aux", (s.Kwarg("weight", L(0.3)),), s.Chain((s.Layer("fc", (L(10),), ()),))),
        s.Chain((s.Layer("e", (), ()),)),
    )


def test_expressions_follow_python_precedence() -> None:
    (let,) = body("let v = a + b * c if not x and y or z else -d // 2")
    assert isinstance(let, s.Let)
    assert let.value == s.IfExp(
        s.BinOp("+", N("a"), s.BinOp("*", N("b"), N("c"))),
        s.BoolOp("or", s.BoolOp("and", s.Unary("not", N("x")), N("y")), N("z")),
        s.BinOp("//", s.Unary("-", N("d")), L(2)),
    )


def test_literals() -> None:
    (let,) = body('let v = f(1, 0.5, 1e-5, true, false, "data/mnist", 1x7, in.channels)')
    assert let.value == s.Call(
        "f",
        (
            L(1),
            L(0.5),
            L(1e-5),
            L(True),
            L(False),
            L("data/mnist"),
            L(s.Size((1, 7))),
            s.InAttr("channels"),
        ),
        (),
    )


def test_newlines_inside_parentheses_and_after_arrows_continue() -> None:
    assert steps("B(1,\n  2) -> relu ->\n   # a comment\n  bn") == (
        s.Call("B", (L(1), L(2)), ()),
        s.Layer("relu", (), ()),
        s.Layer("bn", (), ()),
    )


def test_semicolons_separate_statements() -> None:
    assert len(body("relu; relu;; relu")) == 3


def test_file_items_and_train_section() -> None:
    tree = parse(
        'import "x.cnn"\nblock B { relu }\nnetwork N(c = 1) { input 1 }\n'
        "train {\n data digits(size=32)\n epochs 3\n augment random_crop(pad=4), hflip"
        "\n optimizer sgd lr=0.1 nesterov=true\n}"
    )
    imp, block, net, train = tree.items
    assert imp == s.Import("x.cnn")
    assert block == s.BlockDef("B", (), s.Group((s.Chain((s.Layer("relu", (), ()),)),)))
    assert net.params == (s.Param("c", L(1)),)
    assert train.entries[0] == s.TrainEntry(
        "data", (s.Call("digits", (), (s.Kwarg("size", L(32)),)),), ()
    )
    assert train.entries[2].values == (
        s.Call("random_crop", (), (s.Kwarg("pad", L(4)),)),
        N("hflip"),
    )
    assert train.entries[3].kwargs == (s.Kwarg("lr", L(0.1)), s.Kwarg("nesterov", L(True)))


def test_spans_point_at_the_source() -> None:
    (layer,) = steps("    conv 8 3x3")
    assert (layer.span.line, layer.span.column, layer.span.end_column) == (2, 5, 15)
    assert layer.args[1].span.column == 12


@pytest.mark.parametrize(
    "src, line, col, message",
    [
        ("network N { input 1x8x8\n  conv 8 3x3 ]\n}", 2, 14, "unexpected ']'"),
        ("network N { input 1x8x8\n  relu\n", 2, 7, "unexpected end of file"),
        ("network N {\n  residual { relu }\n  shortcut { relu }\n}", 3, 3, "must follow"),
        ("network N { input 1x8x8; conv stride=2 8 }", 1, 40, "positional argument after"),
    ],
)
def test_syntax_errors_have_positions(src: str, line: int, col: int, message: str) -> None:
    with pytest.raises(CnnError, match=message) as info:
        parse(src, "t.cnn")
    assert (info.value.span.line, info.value.span.column) == (line, col)


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.cnn")), ids=lambda p: p.stem)
def test_round_trip(example: Path) -> None:
    """parse -> unparse -> parse gives the same tree (spans aside)."""
    tree = parse(example.read_text(), str(example))
    text = unparse(tree)
    assert parse(text) == tree
    assert unparse(parse(text)) == text
