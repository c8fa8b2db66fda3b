"""The build context as the clients make and send it (``dockyard build``, ``dockyard compose
build``, ``docker-buildx``), one way for all three: ``dockerignore`` (the patterns, the walk),
``tar`` (the context's tar, planned and streamed), ``send`` (the Dockerfile's place in the
context, the daemon's context cache, the secrets header). It imports no layer above it: the
clients use it, and the daemon's builder reads ``.dockerignore`` with the same ``Matcher``."""
