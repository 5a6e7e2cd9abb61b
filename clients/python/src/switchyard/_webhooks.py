"""Signing what is sent to Switchyard and verifying what Switchyard sends.

- :func:`send_checkpoint_webhook` is seed 000's helper: it POSTs a
  ``checkpoint.required`` event to ``/webhook/crewai`` signed with
  ``X-CrewAI-Signature: sha256=<hex HMAC-SHA256>`` over the very bytes it sends
  (seed 000's own version signed one serialisation and sent another).
- :func:`verify_webhook` checks a Standard Webhooks signature (task pushes,
  checkpoint callbacks): ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature`` (a space-separated list of ``v1,<base64>``), the HMAC-SHA256
  of ``{id}.{timestamp}.{body}`` under the secret (``whsec_<base64>`` is that base64
  decoded), within five minutes of now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional, Union

import httpx

from ._errors import SwitchyardError, WebhookVerificationError

#: How far a webhook's timestamp may be from now, in seconds.
TOLERANCE_SECONDS = 300


def checkpoint_signature(secret: str, body: bytes) -> str:
    """The ``X-CrewAI-Signature`` value for ``body``: ``sha256=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def send_checkpoint_webhook(
    webhook_url: str,
    checkpoint_id: str,
    checkpoint_name: str,
    context: Mapping[str, Any],
    kickoff_id: Optional[str] = None,
    secret: Optional[str] = None,
    *,
    timeout: float = 10.0,
    client: Optional[httpx.Client] = None,
) -> Any:
    """Tells Switchyard a crew reached a checkpoint; returns its answer.

    Called as seed 000 calls it. Safe to repeat: the same ``checkpoint_id`` opens
    one checkpoint. Raises :class:`SwitchyardError` on an error answer.
    """
    event: Dict[str, Any] = {
        "event_type": "checkpoint.required",
        "checkpoint_id": checkpoint_id,
        "checkpoint_name": checkpoint_name,
        "kickoff_id": kickoff_id,
        "context": dict(context),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    headers = {"content-type": "application/json"}
    if secret:
        headers["x-crewai-signature"] = checkpoint_signature(secret, body)
    if client is not None:
        r = client.post(webhook_url, content=body, headers=headers, timeout=timeout)
    else:
        r = httpx.post(webhook_url, content=body, headers=headers, timeout=timeout)
    return SwitchyardError.check(r)


def _secret_key(secret: Union[str, bytes]) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError) as e:
            raise WebhookVerificationError("the secret is not valid whsec_ base64") from e
    return secret.encode("utf-8")


def sign_webhook(
    secret: Union[str, bytes], msg_id: str, timestamp: int, body: Union[bytes, str]
) -> str:
    """One Standard Webhooks signature, ``v1,<base64>``."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    mac = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def _header(headers: Mapping[str, str], *names: str) -> Optional[str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    for n in names:
        if n in lowered:
            return lowered[n]
    return None


def verify_webhook(
    secret: Union[str, bytes],
    headers: Mapping[str, str],
    body: Union[bytes, str],
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: Optional[float] = None,
) -> Any:
    """Verifies a Standard-Webhooks-signed request and returns its parsed body.

    ``headers`` may be any mapping (names in any case); ``body`` the raw bytes as
    received. Raises :class:`WebhookVerificationError` when a header is missing,
    the timestamp is more than ``tolerance`` seconds from now, no signature
    matches, or the body is not JSON.
    """
    msg_id = _header(headers, "webhook-id", "svix-id")
    ts_text = _header(headers, "webhook-timestamp", "svix-timestamp")
    sigs = _header(headers, "webhook-signature", "svix-signature")
    if not msg_id or not ts_text or not sigs:
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature"
        )
    try:
        ts = int(ts_text)
    except ValueError as e:
        raise WebhookVerificationError("webhook-timestamp is not a number") from e
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError("the webhook's timestamp is too old or too new")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = sign_webhook(secret, msg_id, ts, raw).split(",", 1)[1]
    matched = False
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        # Every entry is compared (no early exit), in constant time.
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            matched = True
    if not matched:
        raise WebhookVerificationError("no signature matches")
    try:
        return json.loads(raw)
    except ValueError as e:
        raise WebhookVerificationError("the body is not JSON") from e
