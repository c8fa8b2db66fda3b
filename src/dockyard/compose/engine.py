from __future__ import annotations

from dockyard.compose.loader import Project


def image_name(project: Project, service: str) -> str:
    svc = project.services[service]
    return str(svc.get("image") or f"{project.name}-{service}")
