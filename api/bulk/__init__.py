"""Bulk actions: open cases on, assign, or dismiss many clusters and accounts in one request."""
