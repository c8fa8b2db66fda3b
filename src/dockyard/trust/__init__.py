"""Image signatures in sigstore's format (cosign's keys and attachments, as containers/image reads them)."""
