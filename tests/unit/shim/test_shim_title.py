"""A forked shim shows itself in ps, not the template's command line."""

from __future__ import annotations

import os

from dockyard.shim.shim import set_process_title


def test_title_replaces_cmdline_and_comm():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            set_process_title("dockyard-shim -namespace moby -id abc")
            os.write(w, b"x")
            import time

            time.sleep(5)
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 1) == b"x"
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().rstrip(b"\0")
        own = open("/proc/self/cmdline", "rb").read()
        assert cmdline == b"dockyard-shim -namespace moby -id abc"[:len(own) - 1], (cmdline, own)
        assert open(f"/proc/{pid}/comm").read().strip() == "dockyard-shim"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)
