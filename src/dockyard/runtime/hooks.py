"""Run OCI hooks: the state JSON on stdin, an optional timeout, failure reported by index."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import FailedPrecondition


class HookError(FailedPrecondition):
    pass


def run_hooks(kind: str, hooks: list[dict[str, Any]] | None, state: dict[str, Any], cwd: str | None = None) -> None:
    """Run ``hooks`` in order; ``cwd`` is where runc's caller stands (createContainer: the rootfs)."""
    if not hooks:
        return
    import json
    import subprocess  # only paid for when a spec has hooks

    payload = json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        path = hook["path"]
        args = hook.get("args") or [path]
        env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
        timeout = hook.get("timeout")
        try:
            proc = subprocess.run(
                args,
                executable=path,
                input=payload,
                env=env,
                capture_output=True,
                timeout=timeout,
                close_fds=True,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired as err:
            raise HookError(f"error running hook #{i} ({kind}): {path}: timeout after {timeout}s") from err
        except OSError as err:
            raise HookError(f"error running hook #{i} ({kind}): {path}: {err.strerror}") from err
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
            raise HookError(
                f"error running hook #{i} ({kind}): {path}: {_wait_status(proc.returncode)}"
                + (f", stderr: {detail}" if detail else "")
            )


def _wait_status(returncode: int) -> str:
    """How Go (runc) words a hook's end: ``exit status 3``, ``signal: bad system call``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    import signal

    try:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name[0].lower()}{name[1:]}"
