"""dockyard-shim's command line: start one shim (``--id``/``--bundle``/...; prints its socket)
or serve as the shim template (``--template SOCKET``).

The shim is ``shim/shim.py``, its terminals ``shim/tty.py``, the forking ``shim/template.py``.
"""

from __future__ import annotations

import argparse
import sys

from dockyard.shim.template import serve_template, spawn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dockyard-shim")
    p.add_argument("--template", metavar="SOCKET", help="serve as the shim template on SOCKET")
    p.add_argument("--namespace", default="default")
    p.add_argument("--id")
    p.add_argument("--bundle")
    p.add_argument("--runtime", default="dockyard-runc")
    p.add_argument("--runtime-root")
    p.add_argument("--socket")
    args = p.parse_args(argv)
    if args.template:
        serve_template(args.template)
    if not (args.id and args.bundle and args.runtime_root and args.socket):
        p.error("--id, --bundle, --runtime-root and --socket are required")
    error = spawn(args)
    if error:
        sys.stderr.write(error + "\n")
        return 1
    sys.stdout.write(args.socket + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
