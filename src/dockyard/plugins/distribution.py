"""Managed plugins as registry images, as dockerd pushes and pulls them: a manifest (schema 2) whose
config is the plugin's ``config.json`` (media type ``application/vnd.docker.plugin.v1+json``, with
``rootfs.diff_ids``) and whose one layer is the gzipped tar of its ``rootfs/``. Also the privileges a
plugin asks for (``GET /plugins/privileges``), computed from its config as dockerd's
``computePrivileges``.

The registry calls are ``trust.registry``'s (HTTPS, or plain HTTP to a loopback registry or one on the
daemon's insecure list; Basic or bearer token auth with the request's ``X-Registry-Auth`` credentials,
anonymous tokens without).
Every blob is checked against its digest and every layer against its diff ID before anything is kept.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.trust.registry import Registry, manifest_json, split

PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def privileges(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """What enabling the plugin grants it, in dockerd's order and words."""
    out: list[dict[str, Any]] = []

    def add(name: str, description: str, value: list[str]) -> None:
        out.append({"Name": name, "Description": description, "Value": value})

    net = (cfg.get("Network") or {}).get("Type") or ""
    if net not in ("", "null", "bridge", "none"):
        add("network", "permissions to access a network", [net])
    if cfg.get("IpcHost"):
        add("host ipc namespace", "allow access to host ipc namespace", ["true"])
    if cfg.get("PidHost"):
        add("host pid namespace", "allow access to host pid namespace", ["true"])
    for m in cfg.get("Mounts") or []:
        if m.get("Source"):
            add("mount", "host path to mount", [m["Source"]])
    linux = cfg.get("Linux") or {}
    for dev in linux.get("Devices") or []:
        if dev.get("Path"):
            add("device", "host device to access", [dev["Path"]])
    if linux.get("AllowAllDevices"):
        add("allow-all-devices", "allow 'rwm' access to all devices", ["true"])
    if linux.get("Capabilities"):
        add("capabilities", "list of additional capabilities required", list(linux["Capabilities"]))
    return out


def check_privileges(cfg: dict[str, Any], granted: list[dict[str, Any]] | None) -> None:
    """``granted`` (the request body) must be what the plugin asks for, as dockerd's validatePrivileges."""
    if granted is None:
        return
    wanted = privileges(cfg)

    def key(p: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        return str(p.get("Name")), tuple(sorted(str(v) for v in p.get("Value") or []))
    if sorted(map(key, wanted)) != sorted(map(key, granted)):
        raise errors.PermissionDenied(f"incorrect privileges: the plugin asks for {json.dumps(wanted)}, "
                                      f"granted were {json.dumps(granted)}")


@dataclass
class Fetched:
    reference: str
    digest: str  # the manifest's
    config: dict[str, Any]
    layers: list[bytes]  # gzipped (or plain) tars, checked against their digests


Auth = dict[str, Any] | None  # an AuthConfig (X-Registry-Auth)
Progress = Callable[[dict[str, Any]], None]  # one message of the JSON progress stream, sent as it happens
PROGRESS_EVERY = 0.1  # seconds between two "Downloading" messages of a layer


def _registry(reference: str, auth: Auth, insecure: Sequence[str]) -> tuple[Registry, str]:
    """The registry of a normalised reference, in plain HTTP when on the daemon's ``insecure`` list."""
    host, repo, tag, digest = split(reference)
    return Registry(host, repo, auth, insecure), digest or tag


def fetch_config(reference: str, auth: Auth = None,
                 insecure: Sequence[str] = ()) -> tuple[Registry, dict[str, Any], dict[str, Any], str]:
    """The plugin image's manifest and config; an image that is not a plugin is refused."""
    reg, ref = _registry(reference, auth, insecure)
    data, digest, _ = reg.manifest(ref)
    manifest = manifest_json(data)
    config = manifest.get("config") or {}
    if config.get("mediaType") != PLUGIN_CONFIG:
        raise errors.InvalidArgument(f"{reference} is not a plugin: its config is {config.get('mediaType')!r}, "
                                     f"not {PLUGIN_CONFIG}")
    try:
        cfg = json.loads(reg.blob(str(config.get("digest"))))
    except ValueError:
        raise errors.InvalidArgument(f"{reference}: the plugin config is not JSON") from None
    if not isinstance(cfg, dict):
        raise errors.InvalidArgument(f"{reference}: the plugin config is not a JSON object")
    return reg, manifest, cfg, digest


def _quiet(_msg: dict[str, Any]) -> None:
    return None


def fetch(reference: str, auth: Auth = None, granted: list[dict[str, Any]] | None = None,
          progress: Progress = _quiet, insecure: Sequence[str] = ()) -> Fetched:
    """The plugin image: its config (checked against the ``granted`` privileges before any layer is
    fetched, so a refusal leaves nothing behind), then its layers, each told to ``progress`` as it
    arrives (dockerd's pull messages)."""
    reg, manifest, cfg, digest = fetch_config(reference, auth, insecure)
    check_privileges(cfg, granted)
    progress({"status": f"Pulling from {reference.rsplit(':', 1)[0]}", "id": reference.rsplit(":", 1)[1]})
    layers = [_fetch_layer(reg, str(d.get("digest")), progress) for d in manifest.get("layers") or []]
    diff_ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise errors.InvalidArgument(f"{reference}: {len(layers)} layers but {len(diff_ids)} diff_ids")
    for layer, diff_id in zip(layers, diff_ids, strict=True):
        plain = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
        if _sha256(plain) != diff_id:
            raise errors.InvalidArgument(f"{reference}: a layer does not match its diff_id {diff_id}")
    return Fetched(reference, digest, cfg, layers)


def _fetch_layer(reg: Registry, digest: str, progress: Progress) -> bytes:
    short = digest.removeprefix("sha256:")[:12]
    progress({"status": "Pulling fs layer", "progressDetail": {}, "id": short})
    told = [0.0]

    def sink(done: int, total: int) -> None:
        now = time.monotonic()
        if now - told[0] >= PROGRESS_EVERY or done == total:
            told[0] = now
            progress({"status": "Downloading", "progressDetail": {"current": done, "total": total}, "id": short})

    layer = reg.blob(digest, sink)
    progress({"status": "Download complete", "progressDetail": {}, "id": short})
    return layer


def unpack(fetched: Fetched, rootfs: Path) -> None:
    """The layers into ``rootfs``, members that would leave it refused (tarfile's ``tar`` filter)."""
    rootfs.mkdir(parents=True, exist_ok=True)
    for layer in fetched.layers:
        try:
            with tarfile.open(fileobj=io.BytesIO(layer)) as tf:
                tf.extractall(rootfs, filter="tar")
        except (tarfile.TarError, OSError) as err:
            raise errors.InvalidArgument(f"{fetched.reference}: layer: {err}") from None


def pack(rootfs: Path, cfg: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a plugin: its rootfs as one gzipped layer."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(rootfs)):
            tf.add(rootfs / name, arcname=name)
    plain = buf.getvalue()
    layer = gzip.compress(plain, mtime=0)
    config = json.dumps({**cfg, "rootfs": {"type": "layers", "diff_ids": [_sha256(plain)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                           "config": {"mediaType": PLUGIN_CONFIG, "size": len(config), "digest": _sha256(config)},
                           "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": _sha256(layer)}]},
                          indent=3).encode()
    return layer, config, manifest


def push(reference: str, rootfs: Path, cfg: dict[str, Any], auth: Auth = None, progress: Progress = _quiet,
         insecure: Sequence[str] = ()) -> None:
    """Push the plugin as ``reference``, each step told to ``progress`` as it is done (dockerd's push messages)."""
    reg, tag = _registry(reference, auth, insecure)
    progress({"status": f"The push refers to repository [{reference.rsplit(':', 1)[0]}]"})
    layer, config, manifest = pack(rootfs, cfg)
    for blob in (layer, config):
        reg.put_blob(blob)
        progress({"status": "Pushed", "progressDetail": {}, "id": _sha256(blob)[7:19]})
    reg.put_manifest(tag, manifest, MANIFEST_V2)
    digest = _sha256(manifest)
    progress({"status": f"{tag}: digest: {digest} size: {len(manifest)}"})
    progress({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(manifest)}})
