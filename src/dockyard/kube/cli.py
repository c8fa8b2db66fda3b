"""``dockyard kube generate|play|down`` (the CLI hands the rest of argv here, as for compose)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import yaml

from dockyard import errors
from dockyard.kube.play import INFRA_IMAGE

PROG = "dockyard kube"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise errors.InvalidArgument(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Kubernetes YAML from containers and compose projects, and run it here")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    g = sub.add_parser("generate", help="Kubernetes YAML of containers, of a pod `kube play` ran, or of a "
                                        "compose project")
    g.add_argument("containers", nargs="*", metavar="CONTAINER|POD")
    g.add_argument("--project", "-p", default=None, metavar="COMPOSE_PROJECT",
                   help="a running compose project: one workload and Service per service")
    g.add_argument("--type", "-t", choices=("pod", "deployment"), default=None,
                   help="workload kind (default: pod for containers, deployment for a project)")
    g.add_argument("--name", default="", help="the pod's name (containers; default <first container>-pod)")
    g.add_argument("--filename", "-f", default=None, help="write the YAML to this file")
    pl = sub.add_parser("play", help="run the Pods and Deployments of a Kubernetes YAML file")
    pl.add_argument("file", metavar="FILE", help="the YAML ('-': standard input)")
    pl.add_argument("--network", default="kube", help="the engine network of the pods (created if missing)")
    pl.add_argument("--replace", action="store_true", help="remove pods of the same names first")
    pl.add_argument("--infra-image", default=INFRA_IMAGE,
                    help="the image of each pod's infra container (it runs `sh`, `sleep`: busybox has both)")
    d = sub.add_parser("down", help="remove the pods a `kube play` of FILE made")
    d.add_argument("file", metavar="FILE")
    return p


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path) as f:
        return f.read()


def dump(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, explicit_start=True)


def _generate(client: Any, args: argparse.Namespace) -> int:
    from dockyard.kube import collect

    if bool(args.project) == bool(args.containers):
        raise errors.InvalidArgument("kube generate: name containers or --project, not both or neither")
    if args.project:
        objects = collect.project(client, args.project, "Pod" if args.type == "pod" else "Deployment")
    else:
        objects = collect.containers(client, args.containers, args.name,
                                     "Deployment" if args.type == "deployment" else "Pod")
    text = dump(objects)
    if args.filename:
        with open(args.filename, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str], client_factory: Callable[[], Any]) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return 0
        if args.command == "generate":
            return _generate(client_factory(), args)
        from dockyard.kube import apply, play

        docs = play.load(_read(args.file))
        for skipped in docs.skipped:
            print(f"warning: {skipped}: kind not run by kube play, skipped", file=sys.stderr)
        if args.command == "play":
            apply.play(client_factory(), docs, args.network, args.replace, infra_image=args.infra_image)
        else:
            apply.down(client_factory(), docs)
        return 0
    except OSError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    except errors.DockyardError as err:
        print(f"Error: {err}", file=sys.stderr)
        return getattr(err, "code", 1) or 1  # a failed init container's exit code
