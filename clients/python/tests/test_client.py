"""The client against a real server: seed 000's send_checkpoint_webhook and
wait_for_feedback, checkpoint create/get/decide/cancel/wait (sync and async), a
task leased and completed, and verify_webhook on good, wrong and stale signatures
(the Standard Webhooks reference vector included)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from switchyard import (
    AsyncSwitchyard,
    FeedbackTimeout,
    Switchyard,
    SwitchyardError,
    WebhookVerificationError,
    send_checkpoint_webhook,
    sign_webhook,
    verify_webhook,
    wait_for_feedback,
    wait_for_feedback_sync,
)

from .conftest import ADMIN_KEY, FEEDBACK_KEY, WEBHOOK_SECRET, Server


def admin(server: Server) -> Switchyard:
    return Switchyard(server.url, ADMIN_KEY)


def test_send_checkpoint_webhook_opens_one_checkpoint(server: Server) -> None:
    answer = send_checkpoint_webhook(
        webhook_url=server.url + "/webhook/crewai",
        checkpoint_id="py-plan-1",
        checkpoint_name="after_planning",
        context={"plan": "three posts a week"},
        kickoff_id="py-kick-1",
        secret=WEBHOOK_SECRET,
    )
    assert answer["checkpoint_id"] == "py-plan-1"
    with admin(server) as sy:
        c = sy.get_checkpoint("py-plan-1")
        assert c["status"] == "pending"
        assert c["name"] == "after_planning"
        assert c["kickoff_id"] == "py-kick-1"
        assert c["context"] == {"plan": "three posts a week"}
        # Sent again: still one checkpoint.
        send_checkpoint_webhook(
            server.url + "/webhook/crewai",
            "py-plan-1",
            "after_planning",
            {"plan": "three posts a week"},
            "py-kick-1",
            WEBHOOK_SECRET,
        )
        assert sy.get_checkpoint("py-plan-1")["created_at"] == c["created_at"]
    # A wrong secret is refused, and opens nothing.
    with pytest.raises(SwitchyardError) as e:
        send_checkpoint_webhook(
            server.url + "/webhook/crewai", "py-forged", "x", {}, "py-kick-1", "wrong"
        )
    assert e.value.status == 401
    with admin(server) as sy, pytest.raises(SwitchyardError) as e:
        sy.get_checkpoint("py-forged")
    assert e.value.status == 404


async def test_wait_for_feedback_is_woken_by_the_decision(server: Server) -> None:
    send_checkpoint_webhook(
        server.url + "/webhook/crewai", "py-wait-1", "review", {"draft": "v1"},
        "py-kick-2", WEBHOOK_SECRET,
    )
    # A short wait comes back pending, having waited (a long-poll, not an error).
    with Switchyard(server.url, FEEDBACK_KEY) as sy:
        started = time.monotonic()
        c = sy.wait_checkpoint("py-wait-1", timeout=1)
        assert c["status"] == "pending"
        assert time.monotonic() - started >= 0.9
    with pytest.raises(FeedbackTimeout):
        wait_for_feedback_sync("py-wait-1", timeout=0, base_url=server.url, api_key=FEEDBACK_KEY)

    waiting = asyncio.create_task(
        wait_for_feedback("py-wait-1", timeout=30, base_url=server.url, api_key=FEEDBACK_KEY)
    )
    started = time.monotonic()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            server.url + "/webhook/feedback",
            headers={"authorization": f"Bearer {FEEDBACK_KEY}"},
            json={"checkpoint_id": "py-wait-1", "action": "revise", "feedback": "shorter"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "feedback_received"
    feedback = await asyncio.wait_for(waiting, 30)
    assert time.monotonic() - started < 10
    assert feedback["status"] == "edited"
    assert feedback["action"] == "revise"
    assert feedback["feedback"] == "shorter"


def test_wait_for_feedback_reads_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHYARD_URL", server.url)
    monkeypatch.setenv("SWITCHYARD_API_KEY", ADMIN_KEY)
    with Switchyard() as sy:
        sy.create_checkpoint("env", checkpoint_id="py-env")
        sy.decide_checkpoint("py-env", "reject", comment="no")
    feedback = asyncio.run(wait_for_feedback("py-env", timeout=5))
    assert feedback["action"] == "stop"
    assert feedback["feedback"] == "no"


def test_create_decide_cancel(server: Server) -> None:
    with admin(server) as sy:
        c = sy.create_checkpoint(
            "deploy",
            checkpoint_id="py-deploy",
            context={"env": "prod"},
            decisions=["approve", "reject", "edit"],
            action={"name": "deploy", "args": {"env": "prod"}},
        )
        assert c["status"] == "pending"
        again = sy.create_checkpoint("deploy", checkpoint_id="py-deploy")
        assert again["created_at"] == c["created_at"]
        digest = c["action_digest"]
        expected = hashlib.sha256(b'{"args":{"env":"prod"},"name":"deploy"}').hexdigest()
        assert digest == expected
        with pytest.raises(SwitchyardError) as e:
            sy.decide_checkpoint("py-deploy", "approve", action_digest="0" * 64)
        assert e.value.status == 409
        assert e.value.code == "action_digest_mismatch"
        done = sy.decide_checkpoint(
            "py-deploy", "edit", edited_context={"env": "staging"}, by="ann"
        )
        assert done["status"] == "edited"
        assert done["edited_context"] == {"env": "staging"}
        with pytest.raises(SwitchyardError) as e:
            sy.decide_checkpoint("py-deploy", "reject")
        assert e.value.status == 409
        assert e.value.checkpoint is not None
        assert e.value.checkpoint["status"] == "edited"
        assert sy.wait_checkpoint("py-deploy", timeout=5)["status"] == "edited"

        sy.create_checkpoint("other", checkpoint_id="py-cancel")
        assert sy.cancel_checkpoint("py-cancel")["status"] == "cancelled"
        with pytest.raises(SwitchyardError) as e:
            sy.cancel_checkpoint("py-cancel")
        assert e.value.status == 409


async def test_async_client(server: Server) -> None:
    async with AsyncSwitchyard(server.url, ADMIN_KEY) as sy:
        c = await sy.create_checkpoint("async", checkpoint_id="py-async")
        assert c["status"] == "pending"
        waiting = asyncio.create_task(sy.wait_checkpoint("py-async", timeout=30))
        async with AsyncSwitchyard(server.url, FEEDBACK_KEY) as person:
            await person.decide_checkpoint("py-async", "approve", by="bob")
        done = await asyncio.wait_for(waiting, 30)
        assert done["status"] == "approved"
        assert done["decided_by"] == "bob"
        assert (await sy.get_checkpoint("py-async"))["decision"] == "approve"
        await sy.create_checkpoint("async", checkpoint_id="py-async-2")
        assert (await sy.cancel_checkpoint("py-async-2"))["status"] == "cancelled"


def test_task_lease_heartbeat_complete(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        auth = {"authorization": f"Bearer {ADMIN_KEY}"}
        r = http.post("/api/agents", headers=auth, json={"name": "py-planner", "mode": "pull"})
        assert r.status_code == 201, r.text
        r = http.post(
            "/api/webhooks",
            headers=auth,
            json={
                "webhook_id": "py-gen",
                "name": "py gen",
                "provider": "generic",
                "commands": [
                    {"trigger": "*", "action": "create_task", "agent": "py-planner",
                     "template": "plan {{ topic }}"}
                ],
            },
        )
        assert r.status_code == 201, r.text
        key = http.post(
            "/api/keys", headers=auth, json={"name": "planner", "scopes": ["agent:py-planner"]}
        ).json()["key"]
    with Switchyard(server.url, key) as agent:
        assert agent.lease_tasks("py-planner") == []
        body = json.dumps({"type": "plan.requested", "topic": "q3"}).encode()
        sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        r = httpx.post(
            server.url + "/webhooks/generic/py-gen",
            content=body,
            headers={"content-type": "application/json", "x-webhook-signature": sig},
        )
        assert r.status_code == 202, r.text
        tasks = agent.lease_tasks("py-planner", wait_seconds=10, lease_seconds=60)
        assert len(tasks) == 1, tasks
        task = tasks[0]
        assert "q3" in json.dumps(task)
        agent.heartbeat_task(task["task_id"], task["lease_id"], lease_seconds=120)
        done = agent.complete_task(task["task_id"], task["lease_id"], result={"ok": True})
        assert done["status"] == "completed"
        with pytest.raises(SwitchyardError) as e:
            agent.fail_task(task["task_id"], task["lease_id"], "too late")
        assert e.value.status == 409


# The reference vector of the Standard Webhooks specification's libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(sig: str = SPEC_SIG, ts: int = SPEC_TS) -> dict:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(ts), "webhook-signature": sig}


def test_verify_webhook_reference_vector() -> None:
    assert sign_webhook(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG
    body = verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TS + 10)
    assert body == {"test": 2432232314}
    # Header names in any case; one good signature among others is enough.
    mixed = {k.upper(): v for k, v in spec_headers("v1,bm9wZQ== " + SPEC_SIG).items()}
    assert verify_webhook(SPEC_SECRET, mixed, SPEC_BODY, now=SPEC_TS) == {"test": 2432232314}


def test_verify_webhook_good_bad_stale() -> None:
    key = b"a rotated endpoint key"
    secret = "whsec_" + base64.b64encode(key).decode()
    body = b'{"type": "checkpoint.decided", "data": {"checkpoint_id": "cp-1"}}'
    now = int(time.time())
    # Computed independently: HMAC-SHA256 of "{id}.{ts}.{body}" under the decoded key.
    mac = hmac.new(key, f"msg_1.{now}.".encode() + body, hashlib.sha256).digest()
    good = "v1," + base64.b64encode(mac).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": good}
    assert verify_webhook(secret, headers, body)["data"]["checkpoint_id"] == "cp-1"
    for bad in [
        {**headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
        {**headers, "webhook-signature": good.replace("v1,", "v2,")},
        {**headers, "webhook-id": "msg_2"},
        {k: v for k, v in headers.items() if k != "webhook-signature"},
    ]:
        with pytest.raises(WebhookVerificationError):
            verify_webhook(secret, bad, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body + b" ")
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + base64.b64encode(b"other").decode(), headers, body)
    # Stale: signed six minutes ago (correctly), outside the five-minute window.
    old = now - 360
    mac = hmac.new(key, f"msg_1.{old}.".encode() + body, hashlib.sha256).digest()
    stale = {"webhook-id": "msg_1", "webhook-timestamp": str(old),
             "webhook-signature": "v1," + base64.b64encode(mac).decode()}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, stale, body)
    assert verify_webhook(secret, stale, body, now=old + 299)["type"] == "checkpoint.decided"
