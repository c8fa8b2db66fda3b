"""Image archives in and out: docker-archive (``docker save``/``load``) and OCI image layout tars."""
