"""Signing a delivery's body, and verifying a signature as a receiver does.

The header is ``DistillGuard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the
subscription's secret>``. A receiver recomputes the HMAC over the raw body it read (before parsing it), compares in
constant time, and refuses a ``t`` further than its tolerance from its own clock (a replayed old delivery).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "DistillGuard-Signature"
DELIVERY_HEADER = "DistillGuard-Delivery"
EVENT_HEADER = "DistillGuard-Event"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300  # how far a signature's time may be from the receiver's clock


class SignatureError(ValueError):
    """A signature header that is malformed, does not match the body, or is outside the tolerance."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``DistillGuard-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SCHEME}={_mac(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: float = DEFAULT_TOLERANCE_S, now: float | None = None
) -> int:
    """The signed time of ``body`` when ``header`` is its valid signature under ``secret``, made within
    ``tolerance`` seconds of ``now`` (default: this clock); :class:`SignatureError` saying why otherwise."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed signature header element {item!r}")
        parts.setdefault(key, []).append(value)
    try:
        (stamp,) = parts["t"]
        timestamp = int(stamp)
    except (KeyError, ValueError):
        raise SignatureError("signature header needs exactly one integer t=") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError(f"signature time {timestamp} is more than {tolerance} s from now")
    expected = _mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in parts.get(SCHEME, [])):
        raise SignatureError("no v1 signature matches the body")
    return timestamp
