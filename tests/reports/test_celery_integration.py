"""Tasks really travel through a broker to a separate worker process and change the database.

Two set-ups, as the README describes: Redis (production, CI) and the embedded filesystem broker
that `make run` uses with no server installed, where beat's database schedule sends the task.
"""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from funnelcrm.celery import app as celery_app
from reports.models import WorkerHeartbeat
from tests.celery_workers import new_queue, wait_for
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for_heartbeat(name: str, worker, timeout: float = 60) -> WorkerHeartbeat:
    return wait_for(lambda: WorkerHeartbeat.objects.filter(name=name).first(), timeout=timeout,
                    what=f"a heartbeat '{name}'", workers=[worker], interval=0.25)


@pytest.mark.redis
def test_task_sent_through_redis_runs_on_a_real_worker(workers, monkeypatch):
    # given: a worker on its own queue, so no other worker on this Redis takes the task
    queue = new_queue()
    name = f"redis-{queue}"
    worker = workers(TEST_REDIS_URL, queue)
    # when: the task is enqueued through the broker, not run in this process
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    with celery_app.connection_for_write(url=TEST_REDIS_URL) as conn:
        celery_app.send_task(
            "reports.tasks.worker_heartbeat_task", kwargs={"name": name},
            queue=queue, connection=conn,
        )
    # then: the worker wrote to the same database
    heartbeat = _wait_for_heartbeat(name, worker)
    assert heartbeat.beats == 1
    assert queue in heartbeat.hostname


def test_embedded_broker_runs_periodic_tasks_without_any_server(workers):
    # given: beat's database schedule says "every second", as an admin could set it
    queue = new_queue()
    name = f"beat-{queue}"
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.create(
        name=name, task="reports.tasks.worker_heartbeat_task", interval=every_second,
        kwargs=f'{{"name": "{name}"}}', queue=queue,
    )

    # when: a worker with embedded beat runs on the filesystem broker
    worker = workers("filesystem://", queue, beat=True)
    # then: beat sends the task by itself, and the worker runs it more than once
    _wait_for_heartbeat(name, worker)
    wait_for(lambda: WorkerHeartbeat.objects.get(name=name).beats >= 2, timeout=30,
             what="a second heartbeat", workers=[worker], interval=0.25)
