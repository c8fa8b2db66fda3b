"""``docker-buildx``: a docker CLI plugin that answers what Compose v2 asks of buildx (``bake`` with
a JSON definition on stdin, ``--progress rawjson``, ``--metadata-file``) and builds each target with
dockyardd's classic ``POST /build``, so Compose v2's default build needs no environment variables."""
