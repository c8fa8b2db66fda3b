"""One module per OCI verb; each is a plain function the CLI (or the shim, in-process) calls."""
