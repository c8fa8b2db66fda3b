"""The typed client of the Engine API (used by the CLI)."""
