"""API tokens (stored hashed) and roles."""
