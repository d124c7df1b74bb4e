"""Real Celery workers for the integration tests: separate processes on the test database,
started on a queue of their own (so that no other worker on a shared Redis takes their tasks),
and always stopped, even when a test fails (the `workers` fixture)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import pytest
from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The test database, as a URL a separate process can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)


def new_queue() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@dataclass
class Worker:
    proc: subprocess.Popen
    log_path: Path
    log: IO = field(repr=False)

    def text(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, acknowledging nothing and cleaning nothing up."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_worker(
    tmp_path: Path, broker_url: str, queue: str, *, beat: bool = False, name: str = "w",
    pool: str = "solo", concurrency: int = 1, env: dict | None = None,
) -> Worker:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        **(env or {}),
    }
    cmd = [
        sys.executable, "-m", "celery", "-A", "funnelcrm", "worker",
        f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO", "-Q", queue,
        "-n", f"{name}-{queue}@%h", "--without-gossip", "--without-mingle",
    ]
    if beat:
        cmd += ["--beat", "--schedule", str(tmp_path / f"beat-schedule-{name}")]
    log_path = tmp_path / f"worker-{name}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed by Worker.stop
    proc = subprocess.Popen(cmd, env=environ, stdout=log, stderr=subprocess.STDOUT,
                            cwd=settings.BASE_DIR)
    return Worker(proc, log_path, log)


@pytest.fixture
def workers(tmp_path):
    """start(broker_url, queue, **options) -> Worker; every worker started is stopped at the
    end of the test, whatever happened."""
    started: list[Worker] = []

    def start(broker_url: str, queue: str, **options) -> Worker:
        worker = start_worker(tmp_path, broker_url, queue, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(condition, *, timeout: float, what: str, workers: list[Worker] = (),
             interval: float = 0.05):
    """Poll `condition()` until it returns something truthy, and return that; fail naming `what`
    (with the workers' logs) after `timeout` seconds or when a worker died by itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if any(not w.alive() for w in workers):
            break
        time.sleep(interval)
    logs = "\n".join(f"--- {w.log_path.name}\n{w.text()[-4000:]}" for w in workers)
    pytest.fail(f"{what}: not within {timeout}s\n{logs}")


_TASK_LINE = re.compile(
    r"\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]+\] "
    r"Task (?P<task>[\w.]+)\[(?P<id>[\w-]+)\] succeeded in (?P<seconds>[\d.e-]+)s"
)


def succeeded_spans(text: str, task: str) -> list[tuple[float, float]]:
    """(start, end) epoch seconds of each successful run of `task` in a worker's log."""
    spans = []
    for match in _TASK_LINE.finditer(text):
        if match["task"] == task:
            end = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            spans.append((end - float(match["seconds"]), end))
    return spans


def redis_forget_queue(url: str, queue: str) -> None:
    """Remove a test queue's messages from Redis, unacknowledged ones included (a killed worker's
    message would otherwise be restored to the queue an hour later, for no one)."""
    import redis

    client = redis.Redis.from_url(url)
    client.delete(queue)
    for tag, payload in client.hgetall("unacked").items():
        try:
            routing_key = json.loads(payload)[2]
        except (ValueError, IndexError):
            continue
        if routing_key == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
