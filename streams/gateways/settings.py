"""Settings of the LiteLLM callback (:mod:`distillguard.streams.gateways.litellm`), read from environment variables
in the LiteLLM proxy's process. Importing this module does not need LiteLLM (the README's table is rendered
without it)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from distillguard.streams.settings import EventsTopicSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

AccountSource = Literal["user", "team", "key", "end_user"]
PromptMode = Literal["text", "hash", "none"]


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR blocks (``10.0.0.0/8, 192.0.2.7``); raise ValueError naming a bad one."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR block: {item!r}") from None
    return tuple(out)


class LiteLLMSettings(EventsTopicSettings):
    """The callback's configuration. Each field reads the upper-case environment variable of its name."""

    litellm_account: AccountSource = Field(
        "user",
        description="What the LiteLLM callback's account_id is: the virtual key's user, its team, the end user the "
        "request names (`user` field), or the key itself (key); a request without one falls back to the key's hash.",
    )
    litellm_prompts: PromptMode = Field(
        "text",
        description="Prompt and system prompt in the LiteLLM callback's events: text, hash (a SHA-256 of each, an "
        "HMAC under LITELLM_PROMPT_HASH_KEY: equal prompts stay equal, no text leaves the proxy) or none.",
    )
    litellm_prompt_hash_key: SecretStr | None = Field(
        None,
        description="Secret key of the prompt HMACs (LITELLM_PROMPTS=hash); unset: a plain SHA-256, which a "
        "dictionary of short prompts can reverse.",
    )
    litellm_trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDR blocks of the load balancers in front of the LiteLLM proxy: "
        "from a trusted peer the client IP is read from X-Forwarded-For (rightmost untrusted hop). Empty: the peer.",
    )
    litellm_queue_size: int = Field(
        10_000,
        ge=1,
        description="Events the LiteLLM callback holds for its producer thread; when full (broker down or slow) "
        "new events are dropped and counted, never waited for.",
    )

    @field_validator("litellm_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    def trusted_networks(self) -> tuple[Network, ...]:
        """The parsed ``litellm_trusted_proxies``."""
        return parse_networks(self.litellm_trusted_proxies)


@lru_cache(maxsize=1)
def get_litellm_settings() -> LiteLLMSettings:
    """The process-wide callback settings (cached; tests may call ``get_litellm_settings.cache_clear()``)."""
    return LiteLLMSettings()
