"""``dockyard desktop``: the dashboard, a web application in a process of its own that reaches
dockyardd only through the Engine API (as Docker Desktop's UI talks to dockerd)."""
