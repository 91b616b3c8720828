"""DistillGuard's LiteLLM callback: every request through a LiteLLM proxy becomes an ``api-event/v1`` event on
the input topic, for the worker to score like any other.

Enable it in the proxy's ``config.yaml`` (``pip install 'distillguard[litellm]'``; settings from the proxy's
environment, :class:`~distillguard.streams.gateways.settings.LiteLLMSettings`)::

    litellm_settings:
      callbacks: ["distillguard.streams.gateways.litellm.callback"]

LiteLLM calls the callback after each request has been answered. It builds and validates the event
(:mod:`~distillguard.streams.gateways.litellm_event`) and hands it to a bounded queue that a background thread
produces from (:mod:`~distillguard.streams.gateways.producer`): a slow or absent broker costs dropped, counted
events, never a slower or failed request, and nothing here raises into LiteLLM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from distillguard.detector.events import Event, EventError, encode_event
from distillguard.detector.logs import get_logger
from distillguard.streams.gateways.litellm_event import event_from_litellm
from distillguard.streams.gateways.producer import EventProducer, Outcome
from distillguard.streams.gateways.settings import LiteLLMSettings, get_litellm_settings

log = get_logger("litellm-callback")


class DistillGuardCallback(CustomLogger):
    """A LiteLLM ``CustomLogger`` producing each completed or failed request as an event. ``settings`` default
    to the environment's; ``producer`` to one on ``KAFKA_BOOTSTRAP`` / ``EVENTS_TOPIC`` (started on first use)."""

    def __init__(self, settings: LiteLLMSettings | None = None, producer: EventProducer | None = None) -> None:
        super().__init__()
        self.settings = settings or get_litellm_settings()
        self.producer = producer or EventProducer(
            self.settings.kafka_bootstrap, self.settings.events_topic, queue_size=self.settings.litellm_queue_size
        )

    def record(self, kwargs: Mapping[str, Any], *, failed: bool) -> Event | None:
        """Build the request's event and queue it; None when it is not a valid event (logged and counted).
        Never raises: this runs inside LiteLLM's logging of a request."""
        try:
            event = event_from_litellm(kwargs, failed=failed, settings=self.settings)
            self.producer.submit(event.account_id.encode(), encode_event(event))
        except EventError as exc:
            self.producer.count(Outcome.INVALID)
            log.warning("request not produced", field=exc.field, reason=exc.reason)
            return None
        except Exception:
            self.producer.count(Outcome.INVALID)
            log.exception("request not produced: unexpected error")
            return None
        return event

    # LiteLLM calls the async pair from its proxy and from acompletion, the sync pair from completion.
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time) -> None:
        self.record(kwargs, failed=False)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time) -> None:
        self.record(kwargs, failed=True)

    def log_success_event(self, kwargs, response_obj, start_time, end_time) -> None:
        self.record(kwargs, failed=False)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time) -> None:
        self.record(kwargs, failed=True)


# What config.yaml names. Making it reads the settings (a bad one stops the proxy at start with its reason);
# the producer thread starts with the first request.
callback = DistillGuardCallback()
