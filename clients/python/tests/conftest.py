"""Starts the real server binary (``SWITCHYARD_BIN``) on a free port with a temporary
SQLite data folder, once per test module. A missing binary fails the tests: they
are never skipped."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ADMIN_KEY = "py-admin-key"
FEEDBACK_KEY = "py-feedback-key"
WEBHOOK_SECRET = "py-webhook-secret"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Server:
    url: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = os.environ.get("SWITCHYARD_BIN", "")
    if not binary or not Path(binary).is_file():
        pytest.fail(
            f"SWITCHYARD_BIN={binary!r} is not a built switchyard binary "
            "(cargo build -p switchyard, then SWITCHYARD_BIN=target/debug/switchyard)"
        )
    data = tmp_path_factory.mktemp("switchyard")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite://{data}/switchyard.db",
        "SWITCHYARD_DATA_DIR": str(data),
        "SWITCHYARD_ADMIN_KEY": ADMIN_KEY,
        "WEBHOOK_API_KEY": FEEDBACK_KEY,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SWITCHYARD_LOG": "info",
        "NO_COLOR": "1",
    }
    proc = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = ANSI.sub("", line)
            log.append(line)
            m = re.search(r"addr=(\S+)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(60)
    if not found:
        proc.kill()
        pytest.fail("switchyard did not report its address:\n" + "".join(log[-30:]))
    try:
        yield Server(url=f"http://{found[0]}", process=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
