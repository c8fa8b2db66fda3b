"""``dockyard completion bash|zsh|fish``: shell completion scripts made from the command tree.

Commands and management verbs are written into the script; flags come from ``dockyard CMD
--help`` and container, image, network and volume names from the daemon, both asked at
completion time (so they follow the CLI and the daemon in use)."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Command

# What the argument of a command names, for completing it from the daemon.
_CONTAINERS = ("attach", "commit", "cp", "diff", "exec", "export", "inspect", "kill", "logs", "pause", "port",
               "rename", "restart", "rm", "start", "stats", "stop", "top", "unpause", "update", "wait")
_IMAGES = ("create", "history", "push", "rmi", "run", "save", "tag")
_LISTS = {
    "containers": "ps -a --format '{{.Names}}'",
    "images": "images --format '{{.Repository}}:{{.Tag}}'",
    "networks": "network ls --format '{{.Name}}'",
    "volumes": "volume ls -q",
    "contexts": "context ls -q",
}


def _tree() -> tuple[list[str], dict[str, list[str]]]:
    from dockyard.cli.main import COMMANDS, MANAGEMENT

    top = sorted([*COMMANDS, *MANAGEMENT])
    verbs = {name: sorted(v for v, (_, text) in sub.items() if text) for name, (_, sub) in MANAGEMENT.items()}
    return top, verbs


def _kind(command: str) -> str:
    if command in _CONTAINERS:
        return "containers"
    if command in _IMAGES:
        return "images"
    return ""


def bash() -> str:
    top, verbs = _tree()
    cases = "\n".join(f'        {name}) words="{" ".join(v)}" ;;' for name, v in verbs.items())
    kinds = "\n".join(f'        {" | ".join(names)}) kind={kind} ;;' for kind, names in (
        ("containers", _CONTAINERS), ("images", _IMAGES)))
    lists = "\n".join(f'        {k}) dockyard {v} 2>/dev/null ;;' for k, v in _LISTS.items())
    return f'''# bash completion for dockyard (dockyard completion bash)
_dockyard_list() {{
    case "$1" in
{lists}
    esac
}}

_dockyard() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" cmd="" sub="" i words="" kind=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -H|--host|-c|--context|--config|-l|--log-level) ((i++)) ;;
            -*) ;;
            *) if [[ -z "$cmd" ]]; then cmd="${{COMP_WORDS[i]}}"; elif [[ -z "$sub" ]]; then sub="${{COMP_WORDS[i]}}"; fi ;;
        esac
    done
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "{" ".join(top)}" -- "$cur"))
        return
    fi
    case "$cmd" in
{cases}
    esac
    if [[ -n "$words" && -z "$sub" ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(dockyard $cmd $sub --help 2>/dev/null | grep -oE -- '--[a-z0-9-]+' | sort -u)" -- "$cur"))
        return
    fi
    case "$cmd" in
{kinds}
        network) kind=networks ;;
        volume) kind=volumes ;;
        context) kind=contexts ;;
    esac
    [[ -n "$kind" ]] && COMPREPLY=($(compgen -W "$(_dockyard_list $kind)" -- "$cur"))
}}
complete -F _dockyard dockyard
'''


def zsh() -> str:
    top, verbs = _tree()
    cases = "\n".join(f"    ({name}) words=({' '.join(v)}) ;;" for name, v in verbs.items())
    lists = "\n".join(f"    ({k}) dockyard {v} 2>/dev/null ;;" for k, v in _LISTS.items())
    return f'''#compdef dockyard
# zsh completion for dockyard (dockyard completion zsh)
_dockyard_list() {{
  case "$1" in
{lists}
  esac
}}

_dockyard() {{
  local -a top
  local cmd="${{words[2]}}" sub="${{words[3]}}"
  top=({" ".join(top)})
  if (( CURRENT == 2 )); then
    compadd -- $top
    return
  fi
  local -a verbs
  case "$cmd" in
{cases.replace("words=(", "verbs=(")}
  esac
  if (( CURRENT == 3 && ${{#verbs}} > 0 )); then
    compadd -- $verbs
    return
  fi
  if [[ "$PREFIX" == -* ]]; then
    compadd -- ${{(f)"$(dockyard $cmd $sub --help 2>/dev/null | grep -oE -- '--[a-z0-9-]+' | sort -u)"}}
    return
  fi
  local kind=""
  case "$cmd" in
    ({"|".join(_CONTAINERS)}) kind=containers ;;
    ({"|".join(_IMAGES)}) kind=images ;;
    (network) kind=networks ;;
    (volume) kind=volumes ;;
    (context) kind=contexts ;;
  esac
  [[ -n "$kind" ]] && compadd -- ${{(f)"$(_dockyard_list $kind)"}}
}}

if [[ "$funcstack[1]" == "_dockyard" ]]; then
  _dockyard "$@"
else
  compdef _dockyard dockyard
fi
'''


def fish() -> str:
    top, verbs = _tree()
    from dockyard.cli.main import COMMANDS, MANAGEMENT

    lines = ["# fish completion for dockyard (dockyard completion fish)", "complete -c dockyard -f"]
    for name in top:
        text = COMMANDS.get(name) or MANAGEMENT[name][0]
        lines.append(f"complete -c dockyard -n '__fish_use_subcommand' -a {name} -d {_fish_quote(text)}")
    for name, vs in verbs.items():
        for verb in vs:
            lines.append(f"complete -c dockyard -n '__fish_seen_subcommand_from {name}; and not "
                         f"__fish_seen_subcommand_from {' '.join(vs)}' -a {verb}")
    lines.append(f"complete -c dockyard -n '__fish_seen_subcommand_from {' '.join(_CONTAINERS)}' "
                 f"-a \"(dockyard {_LISTS['containers']} 2>/dev/null)\"")
    lines.append(f"complete -c dockyard -n '__fish_seen_subcommand_from {' '.join(_IMAGES)}' "
                 f"-a \"(dockyard {_LISTS['images']} 2>/dev/null)\"")
    return "\n".join(lines) + "\n"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cmd_completion(c: Any, a: argparse.Namespace) -> int:
    sys.stdout.write({"bash": bash, "zsh": zsh, "fish": fish}[a.shell]())
    return 0


def register(cmd: Command) -> None:
    sp = cmd("completion", cmd_completion, "Generate the autocompletion script for the specified shell",
             usage="bash|zsh|fish")
    sp.set_defaults(offline=True)
    sp.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL")
