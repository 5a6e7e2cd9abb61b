"""The client's exceptions."""

from __future__ import annotations

from typing import Any, Dict, Optional

import httpx


class SwitchyardError(Exception):
    """An error answer from Switchyard: its status and the JSON error body
    (``{"error": {"code", "message"}, "checkpoint"?}``)."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body

    @property
    def checkpoint(self) -> Optional[Dict[str, Any]]:
        """The checkpoint a 409 carries (decided already, another action)."""
        if isinstance(self.body, dict):
            c = self.body.get("checkpoint")
            return c if isinstance(c, dict) else None
        return None

    @classmethod
    def check(cls, r: httpx.Response) -> Any:
        """The answer's JSON (None when empty), or raises for an error status."""
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = r.text
        if r.is_success:
            return body
        err = body.get("error", {}) if isinstance(body, dict) else {}
        raise cls(
            r.status_code,
            str(err.get("code", "http_error")),
            str(err.get("message", r.reason_phrase)),
            body,
        )


class WebhookVerificationError(Exception):
    """A webhook's signature is missing, wrong or stale."""


class FeedbackTimeout(TimeoutError):
    """No decision within the time waited; the checkpoint is still pending."""

    def __init__(self, checkpoint: Dict[str, Any]) -> None:
        super().__init__(f"checkpoint {checkpoint.get('checkpoint_id')!r} is still pending")
        self.checkpoint = checkpoint
