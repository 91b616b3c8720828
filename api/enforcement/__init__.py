"""Enforcement actions: an outbox of events sent to the ``enforcement-actions`` topic."""
