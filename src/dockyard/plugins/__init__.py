"""Docker's legacy plugins: discovery, the ``Plugin.Activate`` handshake, the JSON-over-HTTP client."""
