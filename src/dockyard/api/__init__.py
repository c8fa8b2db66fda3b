"""Generated gRPC modules of the dockyard-containerd API (api/dockyard/v1/containerd.proto)."""
