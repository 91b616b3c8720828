"""The append-only audit log of every change made through the review service."""
