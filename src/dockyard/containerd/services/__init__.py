"""One module per gRPC service; ``base`` holds what they share."""
