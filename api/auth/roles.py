"""The roles of API tokens, weakest first (no database needed to name them)."""

ROLES = ("viewer", "analyst", "lead", "admin")  # each role can do what the ones before it can
