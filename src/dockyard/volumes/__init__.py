"""Volumes: the local driver, Docker's mount syntaxes (-v, --mount, --tmpfs, --volumes-from) and copy-up."""
