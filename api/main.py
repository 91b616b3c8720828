"""ASGI entry point for uvicorn: ``api.main:app`` (settings from the environment)."""

import gc

from distillguard.api.app import create_app

app = create_app()
# The imported libraries and the app live as long as the process: out of the collector's sight, a full collection
# under load pauses every request in flight for ~30 ms instead of ~100 ms (measured with 50 clients on the queue).
gc.freeze()
