"""``cnndsl completion bash|zsh|fish``: a completion script, written from the parser itself.

Each command's options (and their choices) come from the argparse definitions, so the script
never disagrees with ``cnndsl COMMAND --help``. Install, e.g.::

    cnndsl completion bash > ~/.local/share/bash-completion/completions/cnndsl
    cnndsl completion zsh > "${fpath[1]}/_cnndsl"
    cnndsl completion fish > ~/.config/fish/completions/cnndsl.fish
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def options(p: argparse.ArgumentParser) -> list[tuple[list[str], list[str], str]]:
    """(option strings, choices, help) of each optional argument."""
    out = []
    for action in p._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            choices = [str(c) for c in action.choices] if action.choices else []
            out.append((list(action.option_strings), choices, action.help or ""))
    return out


def bash(parser: argparse.ArgumentParser) -> str:
    cases = []
    for name, p in commands(parser).items():
        opts = " ".join(o for strings, _, _ in options(p) for o in strings)
        choice_cases = "".join(
            f'            {"|".join(strings)}) COMPREPLY=($(compgen -W "{" ".join(choices)}" '
            '-- "$cur")); return;;\n'
            for strings, choices, _ in options(p)
            if choices
        )
        cases.append(
            f"        {name})\n"
            f'            case "$prev" in\n{choice_cases}            esac\n'
            f'            COMPREPLY=($(compgen -W "{opts}" -- "$cur") '
            '$(compgen -f -X "!*.cnn" -- "$cur") $(compgen -d -- "$cur"));;\n'
        )
    names = " ".join(commands(parser))
    return (
        "# bash completion for cnndsl (cnndsl completion bash)\n"
        "_cnndsl() {\n"
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"\n'
        "    if [ $COMP_CWORD -eq 1 ]; then\n"
        f'        COMPREPLY=($(compgen -W "{names} --version --help" -- "$cur")); return\n'
        "    fi\n"
        '    case "${COMP_WORDS[1]}" in\n' + "".join(cases) + "    esac\n}\n"
        "complete -o filenames -F _cnndsl cnndsl\n"
    )


def zsh(parser: argparse.ArgumentParser) -> str:
    subs = []
    for name, p in commands(parser).items():
        specs = []
        for strings, choices, help_text in options(p):
            text = help_text.replace("'", "").replace("[", "(").replace("]", ")").replace(":", "")
            values = f":value:({' '.join(choices)})" if choices else ""
            for o in strings:
                specs.append(f"'{o}[{text}]{values}'")
        specs.append("'*:file:_files -g \"*.cnn\"'")
        subs.append(f"        {name}) _arguments {' '.join(specs)} ;;")
    described = " ".join(
        f"'{name}:{(p.description or '').replace(chr(39), '')}'"
        for name, p in commands(parser).items()
    )
    return (
        "#compdef cnndsl\n# zsh completion for cnndsl (cnndsl completion zsh)\n"
        "_cnndsl() {\n"
        "    local -a cmds\n"
        f"    cmds=({described})\n"
        "    if (( CURRENT == 2 )); then _describe command cmds; return; fi\n"
        "    case $words[2] in\n" + "\n".join(subs) + "\n    esac\n}\n"
        '_cnndsl "$@"\n'
    )


def fish(parser: argparse.ArgumentParser) -> str:
    lines = ["# fish completion for cnndsl (cnndsl completion fish)", "complete -c cnndsl -f"]
    for name, p in commands(parser).items():
        desc = (p.description or "").replace("'", "")
        lines.append(f"complete -c cnndsl -n __fish_use_subcommand -a {name} -d '{desc}'")
        for strings, choices, help_text in options(p):
            flags = " ".join(
                f"-l {o[2:]}" if o.startswith("--") else f"-s {o[1:]}" for o in strings
            )
            extra = f" -x -a '{' '.join(choices)}'" if choices else ""
            text = help_text.replace("'", "")
            lines.append(
                f"complete -c cnndsl -n '__fish_seen_subcommand_from {name}' {flags}"
                f"{extra} -d '{text}'"
            )
        lines.append(
            f"complete -c cnndsl -n '__fish_seen_subcommand_from {name}' -k -a "
            "'(__fish_complete_suffix .cnn)'"
        )
    return "\n".join(lines) + "\n"


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}


def cmd_completion(args: Any) -> int:
    from . import get_parser

    sys.stdout.write(SHELLS[args.shell](get_parser()))
    return 0
