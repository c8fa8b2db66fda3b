"""dockyard registry: an OCI Distribution Spec v1.1 server over the containerd content store.

Modules: ``errors`` (spec error codes), ``metadata`` (SQLite: repositories, tags,
manifests, per-repository blob links, upload sessions), ``manifest`` (parsing and
reference checks), ``auth`` (htpasswd Basic, built-in token server, JWT checks),
``app`` (aiohttp routes), ``proxy`` (pull-through cache), ``gc`` (mark and sweep),
``config`` (options from the CLI and a config file), ``server`` (run it).
"""
