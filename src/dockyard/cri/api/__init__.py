"""Generated modules of the Kubernetes CRI, runtime.v1 (scripts/gen-proto from api/cri/runtime/v1/api.proto)."""
