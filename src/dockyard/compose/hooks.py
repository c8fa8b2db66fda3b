"""A service's lifecycle hooks (``post_start``, ``pre_stop``), run as Compose v2 runs them: each an
exec in the container, one after the other; the first that exits non-zero fails the start (or
the stop) with v2's ``<service> hook exited with status <n>``."""

from __future__ import annotations

from dockyard import errors

TYPE_CHECKING = False  # typing imports re: ~3 ms of every command's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class HookFailed(errors.FailedPrecondition):
    pass


def run(client: Any, cid: str, service: str, svc: dict[str, Any], which: str,
        write: Callable[[bytes], None] | None = None) -> None:
    """Every hook of ``which`` (``post_start``/``pre_stop``) of ``svc`` in container ``cid``;
    ``write`` gets the hooks' output (discarded without it)."""
    for hook in svc.get(which) or []:
        run_one(client, cid, service, hook, bool(svc.get("tty")), write)


def run_one(client: Any, cid: str, service: str, hook: dict[str, Any], tty: bool,
            write: Callable[[bytes], None] | None = None) -> None:
    env = hook.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.partition("=")[::2] for e in env)
    body = {"Cmd": list(hook.get("command") or []), "User": str(hook.get("user") or ""),
            "Privileged": bool(hook.get("privileged")), "WorkingDir": str(hook.get("working_dir") or ""),
            "Env": [f"{k}={v}" for k, v in env.items() if v is not None] or None,
            "AttachStdout": True, "AttachStderr": True, "Tty": tty}
    eid = client.json("POST", f"/containers/{cid}/exec", body=body)["Id"]
    sock = client.hijack(f"/exec/{eid}/start", {})
    try:
        _drain(sock, tty, write)
    finally:
        sock.close()
    code = int(client.json("GET", f"/exec/{eid}/json").get("ExitCode") or 0)
    if code != 0:
        raise HookFailed(f"{service} hook exited with status {code}")


def _drain(sock: Any, tty: bool, write: Callable[[bytes], None] | None) -> None:
    """Read the exec's stream to its end (that is the exec's end), payloads to ``write``."""
    from dockyard.client.http import frames

    chunks = iter(lambda: sock.recv(65536), b"")
    for payload in chunks if tty else (data for _, data in frames(chunks)):
        if write is not None:
            write(payload)
