"""Dockyard: a Docker-compatible container platform (engine, containerd, shim, OCI runtime)."""

__version__ = "0.1.0"
