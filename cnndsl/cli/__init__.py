"""The command line: ``cnndsl check|summary|ir|render|compile|train|eval|predict``.

Each command is a thin wrapper over a stage's public function. User mistakes print as
``file:line:col: error: …`` with the source line, a caret and a hint, and exit 1; bad
command-line usage exits 2; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from ..errors import CnnError, Terminated
from ..version import __version__
from .common import positive as _positive
from .common import positive_float as _positive_float
from .common import render_depth as _render_depth
from .common import report
from .common import size_arg as _size
from .frontend import cmd_check, cmd_ir, cmd_summary

# what ``pip install 'cnndsl[torch]'`` adds to the torch-free core
TORCH_EXTRA = frozenset({"torch", "torchvision", "numpy", "sklearn", "matplotlib", "rich", "PIL"})


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnndsl", description="Check, render, compile and train .cnn network files."
    )
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def device_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--device",
            choices=("auto", "cpu", "cuda"),
            default="auto",
            help="auto (default: CUDA when available), cpu or cuda",
        )

    def checkpoint_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--checkpoint",
            required=True,
            metavar="CKPT",
            help="a checkpoint of cnndsl train (best.pt, last.pt)",
        )

    def net_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--network", metavar="NAME", help="the network to use (default: all)")
        p.add_argument(
            "--param",
            "-p",
            action="append",
            metavar="NAME=VALUE",
            help="override a network parameter, e.g. -p num_classes=10",
        )
        p.add_argument(
            "--input",
            type=_size,
            metavar="SIZE",
            help="check at another input size than `input` declares, e.g. --input 3x320x256",
        )

    p = add("check", cmd_check, "check files: exit 0 when valid, 1 on errors")
    p.add_argument("files", nargs="+", metavar="FILE", help=".cnn files (- for stdin)")
    net_opts(p)

    p = add("summary", cmd_summary, "print the layer table of a file's networks")
    p.add_argument("file", metavar="FILE", help="a .cnn file (- for stdin)")
    p.add_argument(
        "--format",
        "-f",
        choices=("table", "markdown", "latex", "csv", "json"),
        default="table",
        help="table (default), markdown, latex, csv or json",
    )
    p.add_argument(
        "--depth",
        "-d",
        type=_positive,
        default=None,
        help="show module paths of at most N parts (blocks fold their children)",
    )
    p.add_argument("--out", "-o", metavar="OUT", help="write to OUT instead of stdout")
    net_opts(p)

    p = add("ir", cmd_ir, "print the elaborated module tree (every module path)")
    p.add_argument("file", metavar="FILE", help="a .cnn file (- for stdin)")
    p.add_argument("--out", "-o", metavar="OUT", help="write to OUT instead of stdout")
    net_opts(p)

    p = add("render", _lazy("render", "cmd_render"), "draw a network as a graphviz diagram")
    p.add_argument("file", metavar="FILE", help="a .cnn file (- for stdin)")
    p.add_argument(
        "--out",
        "-o",
        metavar="OUT",
        help="output file; its extension picks the format (default: FILE stem.svg)",
    )
    p.add_argument(
        "--format",
        "-f",
        choices=("svg", "png", "pdf", "dot", "tikz"),
        help="output format (default: from the extension of -o, else svg)",
    )
    p.add_argument(
        "--depth",
        "-d",
        type=_render_depth,
        default="auto",
        help="N: draw modules of N-part paths and deeper as single nodes; 'auto' "
        "(default): the most detail that fits a slide; 'all': everything",
    )
    p.add_argument(
        "--rankdir",
        choices=("TB", "LR"),
        default="TB",
        help="TB: top to bottom (default); LR: left to right",
    )
    p.add_argument(
        "--theme",
        choices=("light", "dark", "print"),
        default="light",
        help="colours: light (default), dark, or print (greys only)",
    )
    p.add_argument("--no-shapes", action="store_true", help="leave shapes off the edges")
    p.add_argument(
        "--no-fold", action="store_true", help="draw norms and activations as nodes of their own"
    )
    p.add_argument(
        "--force", action="store_true", help="replace an output file that cnndsl did not write"
    )
    p.add_argument(
        "--watch", action="store_true", help="draw again after each save of FILE or its imports"
    )
    net_opts(p)

    p = add(
        "compile",
        _lazy("compile", "cmd_compile"),
        "compile .cnn files to PyTorch modules (DIR/<stem>.py)",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=".cnn files; - reads stdin and writes the Python to stdout",
    )
    p.add_argument(
        "--out",
        "-o",
        metavar="DIR",
        default="generated",
        help="output folder (default: generated/)",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when any output would change"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite files that lack cnndsl's generated-file header",
    )

    p = add(
        "export",
        _lazy("export", "cmd_export"),
        "export a network as ONNX, a torch.export program (.pt2) or TorchScript",
    )
    p.add_argument("file", metavar="FILE", help="a .cnn file (- for stdin, with -o)")
    p.add_argument(
        "--format",
        "-f",
        choices=("onnx", "exported-program", "torchscript"),
        required=True,
        help="onnx, exported-program (torch.export.save) or torchscript (torch.jit.save)",
    )
    p.add_argument(
        "--out", "-o", metavar="OUT", help="output file (default: FILE stem.onnx, .pt2 or .pt)"
    )
    p.add_argument("--opset", type=_positive, metavar="N", help="ONNX opset (default: 18)")
    p.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="a symbolic batch dimension (default: a fixed batch of 1)",
    )
    net_opts(p)
    for action in p._actions:  # one network is exported
        if action.dest == "network":
            action.help = "the network to export (default: the file's last)"
        elif action.dest == "input":
            action.help = "trace at another input size than `input` declares, e.g. 3x320x256"

    p = add(
        "train", _lazy("train", "cmd_train"), "train a network on the data of its train section"
    )
    p.add_argument("file", metavar="FILE", help="a .cnn file")
    net_opts(p)
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/<network>-<time>)")
    p.add_argument("--epochs", type=_positive, help="epochs (overrides the train section)")
    p.add_argument("--batch", type=_positive, help="batch size (overrides the train section)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (overrides the train section)")
    p.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw"),
        help="optimizer (overrides the train section)",
    )
    p.add_argument(
        "--schedule",
        choices=("constant", "step", "cosine", "onecycle"),
        help="learning-rate schedule (overrides the train section)",
    )
    p.add_argument("--data", metavar="SPEC", help='e.g. "digits(size=32)" or "mnist("data")"')
    p.add_argument(
        "--val",
        type=float,
        metavar="FRACTION",
        help="training data held out for validation, 0 for none (overrides the train section)",
    )
    p.add_argument("--seed", type=int, help="random seed (overrides the train section)")
    device_opt(p)
    p.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision: bf16 or fp16 (CUDA)")
    p.add_argument(
        "--channels-last", action="store_true", help="use the channels_last memory format"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--nproc", type=_positive, default=1, help="processes (DDP, gloo or nccl)")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last.pt")
    p.add_argument("--stop-after", type=_positive, metavar="N", help="stop after N epochs")
    p.add_argument(
        "--deterministic", action="store_true", help="torch.use_deterministic_algorithms(True)"
    )

    p = add("fmt", _lazy("fmt", "cmd_fmt"), "lay out .cnn files canonically (in place)")
    p.add_argument("files", nargs="+", metavar="FILE", help=".cnn files or folders (- reads stdin)")
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file would change"
    )
    p.add_argument("--diff", action="store_true", help="print the changes as a diff; write nothing")

    p = add("lsp", _lazy("lsp", "cmd_lsp"), "run the language server over stdio (for editors)")
    p.add_argument("--stdio", action="store_true", help="talk over stdio (the default)")

    p = add(
        "preview",
        _lazy("preview", "cmd_preview"),
        "a local web page that redraws a file's diagram, table and diagnostics on each save",
    )
    p.add_argument("file", metavar="FILE", help="a .cnn file")
    p.add_argument(
        "--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free)"
    )
    p.add_argument("--open", action="store_true", help="open the page in the default browser")

    p = add("completion", _lazy("completion", "cmd_completion"), "print a shell completion script")
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell: bash, zsh or fish")

    p = add("eval", _lazy("train", "cmd_eval"), "evaluate a checkpoint on the test split")
    p.add_argument("file", metavar="FILE", help="a .cnn file")
    checkpoint_opt(p)
    p.add_argument(
        "--data", metavar="SPEC", help='another data set with the same classes, e.g. mnist("d")'
    )
    p.add_argument("--split", choices=("test", "val"), default="test", help="test (default) or val")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument(
        "--out",
        "-o",
        metavar="DIR",
        help="folder for metrics.json and confusion.png (default: eval-<ckpt>-<split> beside "
        "the checkpoint)",
    )
    device_opt(p)
    net_opts(p)

    p = add("predict", _lazy("train", "cmd_predict"), "classify images with a checkpoint")
    p.add_argument("file", metavar="FILE", help="a .cnn file")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, folders of images or globs"
    )
    checkpoint_opt(p)
    p.add_argument("--topk", type=_positive, default=1, metavar="K", help="the K likeliest classes")
    p.add_argument(
        "--format",
        "-f",
        choices=("table", "json", "csv"),
        default="table",
        help="table (default), json or csv",
    )
    device_opt(p)
    net_opts(p)
    return parser


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    """A command whose implementation is imported only when it runs (fast start-up)."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        try:
            fn = getattr(importlib.import_module(f"cnndsl.cli.{module}"), func)
        except ModuleNotFoundError as exc:
            if exc.name not in TORCH_EXTRA:
                raise
            raise CnnError(
                f"cnndsl {args.command} needs the torch extra ({exc.name} is not installed)",
                hint="pip install 'cnndsl[torch]'",
            ) from None
        return int(fn(args))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 errors in the input, 2 bad usage)."""
    parser = get_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except CnnError as exc:
        report(exc.diagnostic)
        return 1
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in cnndsl, not in the user's file
        if os.environ.get("CNNDSL_DEBUG"):
            raise
        print(
            f"cnndsl: internal error: {type(exc).__name__}: {exc}\n"
            "this is a bug in cnndsl; rerun with CNNDSL_DEBUG=1 for the traceback and "
            "report it",
            file=sys.stderr,
        )
        return 3
