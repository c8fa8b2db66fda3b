"""The distribution client: pull and push images over the registry HTTP API v2.

``hosts`` decides where a reference's registry is and how to speak to it,
``auth`` answers ``WWW-Authenticate`` challenges (Basic, and Bearer tokens
fetched from the realm), ``registry`` is one repository's HTTP API with the
registry's error codes turned into ``dockyard.errors`` kinds, and ``pull`` /
``push`` are the orchestrations the Transfer service streams progress from.
Everything is asyncio (aiohttp); disk work goes to threads.
"""
