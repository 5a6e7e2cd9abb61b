"""Switchyard's Python client.

- :class:`Switchyard` / :class:`AsyncSwitchyard`: checkpoints (create, get,
  decide, cancel, wait) and tasks (lease, heartbeat, complete, fail).
- :func:`send_checkpoint_webhook` and :func:`wait_for_feedback`: seed 000's
  helpers, called as seed 000 calls them.
- :func:`verify_webhook`: checks a Standard-Webhooks-signed push or callback.
"""

from ._client import (
    AsyncSwitchyard,
    Switchyard,
    wait_for_feedback,
    wait_for_feedback_sync,
)
from ._errors import FeedbackTimeout, SwitchyardError, WebhookVerificationError
from ._webhooks import (
    checkpoint_signature,
    send_checkpoint_webhook,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "AsyncSwitchyard",
    "FeedbackTimeout",
    "Switchyard",
    "SwitchyardError",
    "WebhookVerificationError",
    "checkpoint_signature",
    "send_checkpoint_webhook",
    "sign_webhook",
    "verify_webhook",
    "wait_for_feedback",
    "wait_for_feedback_sync",
]
