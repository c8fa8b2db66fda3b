"""``dockyard kube``: Kubernetes YAML from containers and compose projects (``generate``), and Pods and
Deployments of such YAML run on the local engine (``play``, ``down``), as ``podman kube`` does.
A client of the Engine API only (docs/architecture.md "kube")."""
