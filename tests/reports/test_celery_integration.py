"""Tasks really travel through a broker to a separate worker process and change the database.

Two set-ups, as the README describes: Redis (production, CI) and the embedded filesystem broker
that `make run` uses with no server installed, where beat's database schedule sends the task.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from funnelcrm.celery import app as celery_app
from reports.models import WorkerHeartbeat
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    """The test database, as a URL a separate process can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise NotImplementedError(connection.vendor)


def _start_worker(tmp_path: Path, broker_url: str, queue: str, *, beat: bool = False):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "funnelcrm.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    cmd = [
        sys.executable, "-m", "celery", "-A", "funnelcrm", "worker",
        "--pool=solo", "--loglevel=INFO", "-Q", queue, "-n", f"{queue}@%h",
        "--without-gossip", "--without-mingle",
    ]
    if beat:
        cmd += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed by the fixture
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=settings.BASE_DIR)
    return proc, log


def _wait_for_heartbeat(name: str, proc, log_path: Path, timeout: float = 60) -> WorkerHeartbeat:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        heartbeat = WorkerHeartbeat.objects.filter(name=name).first()
        if heartbeat:
            return heartbeat
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    pytest.fail(f"no heartbeat '{name}' within {timeout}s; worker log:\n{log_path.read_text()}")


def _stop(proc, log):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.mark.redis
def test_task_sent_through_redis_runs_on_a_real_worker(tmp_path, monkeypatch):
    # given: a worker on its own queue, so no other worker on this Redis takes the task
    queue = f"test-{uuid.uuid4().hex[:8]}"
    name = f"redis-{queue}"
    proc, log = _start_worker(tmp_path, TEST_REDIS_URL, queue)
    try:
        # when: the task is enqueued through the broker, not run in this process
        monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
        with celery_app.connection_for_write(url=TEST_REDIS_URL) as conn:
            celery_app.send_task(
                "reports.tasks.worker_heartbeat_task", kwargs={"name": name},
                queue=queue, connection=conn,
            )
        # then: the worker wrote to the same database
        heartbeat = _wait_for_heartbeat(name, proc, tmp_path / "worker.log")
    finally:
        _stop(proc, log)
    assert heartbeat.beats == 1
    assert queue in heartbeat.hostname


def test_embedded_broker_runs_periodic_tasks_without_any_server(tmp_path):
    # given: beat's database schedule says "every second", as an admin could set it
    queue = f"test-{uuid.uuid4().hex[:8]}"
    name = f"beat-{queue}"
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name=name, task="reports.tasks.worker_heartbeat_task", interval=every_second,
        kwargs=f'{{"name": "{name}"}}', queue=queue,
    )

    # when: a worker with embedded beat runs on the filesystem broker
    proc, log = _start_worker(tmp_path, "filesystem://", queue, beat=True)
    try:
        # then: beat sends the task by itself, and the worker runs it more than once
        _wait_for_heartbeat(name, proc, tmp_path / "worker.log")
        deadline = time.monotonic() + 30
        while WorkerHeartbeat.objects.get(name=name).beats < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        _stop(proc, log)
    assert WorkerHeartbeat.objects.get(name=name).beats >= 2
