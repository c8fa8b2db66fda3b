"""The Dockerfile's instructions, one module per family as moby's dispatchers: ``from_`` (FROM
and the base image's ONBUILD triggers), ``run`` (RUN and its container), ``copy`` (COPY, ADD)
and ``metadata`` (the instructions that change only the image config, and ARG). Each step takes
the build (``build.Build``) and a state, and returns the next state through ``Build.cached``."""
