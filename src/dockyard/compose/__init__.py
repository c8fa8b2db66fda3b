"""``dockyard compose``: the Compose Specification in Python, interchangeable with Compose v2.

``loader`` turns compose files into a normalized ``Project`` (YAML 1.2, interpolation, merge,
``extends``, ``include``, profiles); ``engine`` turns services into Engine API calls through
``dockyard.client`` with Compose v2's names and labels; ``cli`` holds the commands.
"""
