"""Configuration-only networks (``network create --config-only``) and networks made from one
(``--config-from``), as libnetwork's (network.go validateConfiguration, applyConfigurationTo).

A config-only network holds a configuration and nothing else: its IPAM configs, IPAM driver and options,
driver options, labels and ``EnableIPv6``; its driver is ``null``, its scope local, no address pool is
taken (its subnets overlap nothing) and no container can join it. A ``--config-from`` network takes that
configuration and may give none of its own. A config-only network that a network uses cannot be removed;
prune leaves config-only networks alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dockyard import errors

OPERATOR_FIELDS = "configuration network can only contain network specific fields. Network operator fields like " \
                  "[ ingress | internal | attachable | scope ] are not supported."
NO_ENDPOINT = "cannot create endpoint on configuration-only network"


def config_from(body: dict[str, Any]) -> str:
    return str((body.get("ConfigFrom") or {}).get("Network") or "")


def check_config_only(body: dict[str, Any]) -> None:
    if body.get("Ingress") or body.get("Internal") or body.get("Attachable") or body.get("Scope"):
        raise errors.PermissionDenied(OPERATOR_FIELDS)
    if config_from(body):
        raise errors.PermissionDenied("a configuration network cannot depend on another configuration network")


def derive(body: dict[str, Any], networks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The create body of a ``--config-from`` network with its configuration network's settings in it."""
    name = config_from(body)
    ipam = body.get("IPAM") or {}
    if (ipam.get("Driver") or "default") != "default" or body.get("EnableIPv4") is False or body.get("EnableIPv6") \
            or body.get("Labels") or ipam.get("Options") or ipam.get("Config"):
        raise errors.PermissionDenied("user-specified configurations are not supported if the network depends on a "
                                      "configuration network")
    if body.get("Options"):
        raise errors.PermissionDenied("network driver options are not supported if the network depends on a "
                                      "configuration network")
    source = next((n for n in networks if n.get("ConfigOnly") and n["Name"] == name), None)
    if source is None:
        raise errors.NotFound(f'configuration network "{name}" does not exist')
    return {**body, "EnableIPv6": bool(source.get("EnableIPv6")), "Labels": dict(source.get("Labels") or {}),
            "Options": dict(source.get("Options") or {}),
            "IPAM": {"Driver": source["IPAM"].get("Driver") or "default", "Options": source["IPAM"].get("Options"),
                     "Config": [dict(c) for c in source["IPAM"].get("Config") or []]}}


def check_removal(n: dict[str, Any], networks: Iterable[dict[str, Any]]) -> None:
    if n.get("ConfigOnly") and any((o.get("ConfigFrom") or {}).get("Network") == n["Name"] for o in networks):
        raise errors.PermissionDenied(f'configuration network "{n["Name"]}" is in use')
