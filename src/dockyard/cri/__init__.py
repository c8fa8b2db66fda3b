"""dockyard-cri: the Kubernetes CRI (runtime.v1) served on dockyard-containerd (docs/architecture.md, "CRI")."""
