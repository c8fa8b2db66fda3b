"""The CLI's own errors, kept apart from the daemon's (``dockyard.client.errors.DaemonError``).

A usage error is docker's ``unknown flag: --x`` / ``invalid argument "12qb" for "-m, --memory"
flag: ...`` followed by ``See 'dockyard run --help'.``, exit 125; an argument-count error is
docker's ``"dockyard rm" requires at least 1 argument.`` with the usage, exit 1. ``main`` alone
turns these into stderr lines and exit codes."""

from __future__ import annotations


class CLIError(Exception):
    """An error of the CLI itself (never ``Error response from daemon``); ``str()`` is what stderr shows."""

    code = 1


class UsageError(CLIError):
    """Bad flags or flag values: docker's message, then ``See '<command> --help'.``."""

    code = 125

    def __init__(self, message: str, command: str, usage: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.usage = usage

    def __str__(self) -> str:
        return f"{self.message}\nSee '{self.command} --help'." + (f"\n\n{self.usage}" if self.usage else "")


class ArgumentCountError(UsageError):
    """Too few or too many arguments: docker exits 1 for these and shows the usage."""

    code = 1


class StatusError(CLIError):
    """A command's failure with its own message and exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class TemplateError(Exception):
    """A ``--format`` template that does not parse, or fails while it runs (Go's message); ``code``
    is the exit status the command ends with (cli/template.py raises it)."""

    code = 1
    partial = ""  # what the template wrote before it failed

    def with_prefix(self, prefix: str, code: int = 1) -> TemplateError:
        err = TemplateError(prefix + str(self))
        err.code = code
        err.partial = self.partial
        return err
