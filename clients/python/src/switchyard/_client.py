"""``Switchyard`` (sync) and ``AsyncSwitchyard``: checkpoints and tasks over
Switchyard's HTTP API, with ``Authorization: Bearer <api_key>``.

Each call is described once (:class:`_Call`, built by :class:`_Calls`) and sent by
either client, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, cast
from urllib.parse import quote

import httpx

from ._errors import FeedbackTimeout, SwitchyardError

#: A JSON object as the API answers it.
Json = Dict[str, Any]

#: The longest one ``wait`` long-poll lasts on the server, in seconds.
MAX_WAIT = 60
#: Added to a long-poll's HTTP timeout, so the server answers first.
_SLACK = 15.0


def _seg(s: str) -> str:
    return quote(s, safe="")


def _drop_none(d: Json) -> Json:
    return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    json: Any = None
    params: Optional[Json] = None
    timeout: Optional[float] = None


class _Calls:
    """Every call the clients make."""

    @staticmethod
    def create_checkpoint(name: str, fields: Json) -> _Call:
        return _Call("POST", "/api/checkpoints", _drop_none({"name": name, **fields}))

    @staticmethod
    def get_checkpoint(checkpoint_id: str) -> _Call:
        return _Call("GET", f"/api/checkpoints/{_seg(checkpoint_id)}")

    @staticmethod
    def decide_checkpoint(checkpoint_id: str, body: Json) -> _Call:
        return _Call(
            "POST", f"/api/checkpoints/{_seg(checkpoint_id)}/decision", _drop_none(body)
        )

    @staticmethod
    def cancel_checkpoint(checkpoint_id: str) -> _Call:
        return _Call("POST", f"/api/checkpoints/{_seg(checkpoint_id)}/cancel")

    @staticmethod
    def wait_once(checkpoint_id: str, seconds: int) -> _Call:
        return _Call(
            "GET",
            f"/api/checkpoints/{_seg(checkpoint_id)}/wait",
            params={"timeout": seconds},
            timeout=seconds + _SLACK,
        )

    @staticmethod
    def lease(agent: str, max: int, wait_seconds: int, lease_seconds: Optional[int]) -> _Call:
        body = _drop_none(
            {"max": max, "wait_seconds": wait_seconds, "lease_seconds": lease_seconds}
        )
        return _Call(
            "POST",
            f"/api/agents/{_seg(agent)}/tasks/lease",
            body,
            timeout=wait_seconds + _SLACK,
        )

    @staticmethod
    def heartbeat(task_id: str, lease_id: str, lease_seconds: Optional[int]) -> _Call:
        return _Call(
            "POST",
            f"/api/tasks/{_seg(task_id)}/heartbeat",
            _drop_none({"lease_id": lease_id, "lease_seconds": lease_seconds}),
        )

    @staticmethod
    def complete(task_id: str, lease_id: str, result: Any, actions: Optional[List[Any]]) -> _Call:
        body: Json = {"lease_id": lease_id}
        if result is not None:
            body["result"] = result
        if actions is not None:
            body["actions"] = actions
        return _Call("POST", f"/api/tasks/{_seg(task_id)}/complete", body)

    @staticmethod
    def fail(task_id: str, lease_id: str, error: str, retry: bool) -> _Call:
        return _Call(
            "POST",
            f"/api/tasks/{_seg(task_id)}/fail",
            {"lease_id": lease_id, "error": error, "retry": retry},
        )


def _is_pending(c: Any) -> bool:
    return isinstance(c, dict) and c.get("status") == "pending"


def _base(base_url: Optional[str]) -> str:
    url = base_url or os.environ.get("SWITCHYARD_URL") or "http://127.0.0.1:8000"
    return url.rstrip("/")


def _key(api_key: Optional[str]) -> Optional[str]:
    return api_key or os.environ.get("SWITCHYARD_API_KEY")


class Switchyard:
    """A synchronous client. ``base_url`` and ``api_key`` default to the
    ``SWITCHYARD_URL`` and ``SWITCHYARD_API_KEY`` environment variables."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        client: Optional[httpx.Client] = None,
    ) -> None:
        self.base_url = _base(base_url)
        key = _key(api_key)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = client or httpx.Client(timeout=timeout)
        self._headers = headers

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Switchyard":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: _Call) -> Any:
        kwargs: Json = {"headers": self._headers, "params": call.params}
        if call.json is not None:
            kwargs["json"] = call.json
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        r = self._http.request(call.method, self.base_url + call.path, **kwargs)
        return SwitchyardError.check(r)

    # Checkpoints.

    def create_checkpoint(self, name: str, **fields: Any) -> Json:
        """Opens a checkpoint (``checkpoint_id``, ``kickoff_id``, ``context``,
        ``question``, ``decisions``, ``timeout_seconds``, ``default_decision``, …);
        the same ``checkpoint_id`` again returns the stored one."""
        return cast(Json, self._send(_Calls.create_checkpoint(name, fields)))

    def get_checkpoint(self, checkpoint_id: str) -> Json:
        return cast(Json, self._send(_Calls.get_checkpoint(checkpoint_id)))

    def decide_checkpoint(
        self,
        checkpoint_id: str,
        decision: str,
        *,
        comment: Optional[str] = None,
        edited_context: Optional[Json] = None,
        response: Optional[str] = None,
        by: Optional[str] = None,
        action_digest: Optional[str] = None,
    ) -> Json:
        """Decides (``approve``, ``reject``, ``edit``, ``respond``). A checkpoint
        decided already raises :class:`SwitchyardError` 409 carrying it."""
        body = {
            "decision": decision,
            "comment": comment,
            "edited_context": edited_context,
            "response": response,
            "by": by,
            "action_digest": action_digest,
        }
        return cast(Json, self._send(_Calls.decide_checkpoint(checkpoint_id, body)))

    def cancel_checkpoint(self, checkpoint_id: str) -> Json:
        return cast(Json, self._send(_Calls.cancel_checkpoint(checkpoint_id)))

    def wait_checkpoint(self, checkpoint_id: str, timeout: float = 60.0) -> Json:
        """Long-polls until the checkpoint is decided, expired or cancelled, or
        ``timeout`` seconds pass (then returns it pending). Woken by the decision
        itself, not by polling."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            seconds = max(0, min(MAX_WAIT, int(left + 0.999)))
            c = cast(Json, self._send(_Calls.wait_once(checkpoint_id, seconds)))
            if not _is_pending(c) or time.monotonic() >= deadline:
                return c

    # Tasks.

    def lease_tasks(
        self,
        agent: str,
        *,
        max: int = 1,
        wait_seconds: int = 0,
        lease_seconds: Optional[int] = None,
    ) -> List[Json]:
        """Leases up to ``max`` of ``agent``'s queued tasks, waiting up to
        ``wait_seconds`` (≤ 60) for one to arrive."""
        body = cast(Json, self._send(_Calls.lease(agent, max, wait_seconds, lease_seconds)))
        return cast(List[Json], body["tasks"])

    def heartbeat_task(
        self, task_id: str, lease_id: str, lease_seconds: Optional[int] = None
    ) -> Json:
        return cast(Json, self._send(_Calls.heartbeat(task_id, lease_id, lease_seconds)))

    def complete_task(
        self,
        task_id: str,
        lease_id: str,
        result: Any = None,
        actions: Optional[List[Any]] = None,
    ) -> Json:
        return cast(Json, self._send(_Calls.complete(task_id, lease_id, result, actions)))

    def fail_task(self, task_id: str, lease_id: str, error: str, retry: bool = True) -> Json:
        return cast(Json, self._send(_Calls.fail(task_id, lease_id, error, retry)))


class AsyncSwitchyard:
    """The asynchronous client: the same calls as :class:`Switchyard`, awaited."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        self.base_url = _base(base_url)
        key = _key(api_key)
        self._headers = {"authorization": f"Bearer {key}"} if key else {}
        self._http = client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncSwitchyard":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call) -> Any:
        kwargs: Json = {"headers": self._headers, "params": call.params}
        if call.json is not None:
            kwargs["json"] = call.json
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        r = await self._http.request(call.method, self.base_url + call.path, **kwargs)
        return SwitchyardError.check(r)

    async def create_checkpoint(self, name: str, **fields: Any) -> Json:
        return cast(Json, await self._send(_Calls.create_checkpoint(name, fields)))

    async def get_checkpoint(self, checkpoint_id: str) -> Json:
        return cast(Json, await self._send(_Calls.get_checkpoint(checkpoint_id)))

    async def decide_checkpoint(
        self,
        checkpoint_id: str,
        decision: str,
        *,
        comment: Optional[str] = None,
        edited_context: Optional[Json] = None,
        response: Optional[str] = None,
        by: Optional[str] = None,
        action_digest: Optional[str] = None,
    ) -> Json:
        body = {
            "decision": decision,
            "comment": comment,
            "edited_context": edited_context,
            "response": response,
            "by": by,
            "action_digest": action_digest,
        }
        return cast(Json, await self._send(_Calls.decide_checkpoint(checkpoint_id, body)))

    async def cancel_checkpoint(self, checkpoint_id: str) -> Json:
        return cast(Json, await self._send(_Calls.cancel_checkpoint(checkpoint_id)))

    async def wait_checkpoint(self, checkpoint_id: str, timeout: float = 60.0) -> Json:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            seconds = max(0, min(MAX_WAIT, int(left + 0.999)))
            c = cast(Json, await self._send(_Calls.wait_once(checkpoint_id, seconds)))
            if not _is_pending(c) or time.monotonic() >= deadline:
                return c

    async def lease_tasks(
        self,
        agent: str,
        *,
        max: int = 1,
        wait_seconds: int = 0,
        lease_seconds: Optional[int] = None,
    ) -> List[Json]:
        body = cast(Json, await self._send(_Calls.lease(agent, max, wait_seconds, lease_seconds)))
        return cast(List[Json], body["tasks"])

    async def heartbeat_task(
        self, task_id: str, lease_id: str, lease_seconds: Optional[int] = None
    ) -> Json:
        return cast(Json, await self._send(_Calls.heartbeat(task_id, lease_id, lease_seconds)))

    async def complete_task(
        self,
        task_id: str,
        lease_id: str,
        result: Any = None,
        actions: Optional[List[Any]] = None,
    ) -> Json:
        return cast(Json, await self._send(_Calls.complete(task_id, lease_id, result, actions)))

    async def fail_task(
        self, task_id: str, lease_id: str, error: str, retry: bool = True
    ) -> Json:
        return cast(Json, await self._send(_Calls.fail(task_id, lease_id, error, retry)))


#: Seed 000's feedback action for each decision (and the end states).
_ACTION_OF = {
    "approve": "continue",
    "reject": "stop",
    "edit": "revise",
    "respond": "revise",
}


def _as_feedback(c: Json) -> Json:
    """The checkpoint, with seed 000's ``action`` and ``feedback`` added."""
    out = dict(c)
    action = c.get("feedback_action") or _ACTION_OF.get(c.get("decision") or "", "stop")
    out["action"] = action
    out["feedback"] = c.get("comment") or c.get("response")
    return out


async def wait_for_feedback(
    checkpoint_id: str,
    timeout: float = 3600.0,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
) -> Json:
    """Waits for a person's feedback on a checkpoint, as seed 000 awaits it.

    Returns the decided checkpoint with seed 000's ``action`` (``continue``,
    ``stop``, ``revise``, ``skip``) and ``feedback`` added; a checkpoint that
    expired or was cancelled without an approval reads ``stop``. Raises
    :class:`FeedbackTimeout` when ``timeout`` seconds pass first. Long-polls
    ``/api/checkpoints/{id}/wait``, woken by the decision itself.
    """
    async with AsyncSwitchyard(base_url, api_key) as sy:
        c = await sy.wait_checkpoint(checkpoint_id, timeout)
    if _is_pending(c):
        raise FeedbackTimeout(c)
    return _as_feedback(c)


def wait_for_feedback_sync(
    checkpoint_id: str,
    timeout: float = 3600.0,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
) -> Json:
    """:func:`wait_for_feedback` for code that is not async."""
    with Switchyard(base_url, api_key) as sy:
        c = sy.wait_checkpoint(checkpoint_id, timeout)
    if _is_pending(c):
        raise FeedbackTimeout(c)
    return _as_feedback(c)
