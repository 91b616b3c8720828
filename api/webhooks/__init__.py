"""Webhooks: admin-managed subscriptions, a transactional delivery outbox, signed at-least-once delivery."""
