"""Analysts' overrides of the response ladder's recommended action on an account or a cluster."""
