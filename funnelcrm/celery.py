"""The Celery app. Tasks are discovered in each app's tasks.py; beat reads its schedule from the
database (django-celery-beat), so admins can change it without a deploy."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "funnelcrm.settings.local")

app = Celery("funnelcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _ensure_filesystem_broker_dirs(sender, **kwargs):
    # kombu's filesystem transport does not create its folders itself.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth retrying: the database or the broker was briefly out of reach (a dropped
    connection, a failover, a deadlock or lock timeout, which psycopg raises as OperationalError).
    Not DatabaseError as a whole: IntegrityError, ProgrammingError and DataError are bugs or bad
    data, and would fail again on every retry."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as BrokerError

    errors: list[type[BaseException]] = [OperationalError, InterfaceError, BrokerError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # embedded mode runs without the redis client
        pass
    else:
        errors += [RedisConnectionError, RedisTimeoutError]
    return tuple(errors)


TRANSIENT_ERRORS = _transient_errors()


def reliable(
    *, soft_time_limit: int, time_limit: int, max_retries: int = 8, retry_backoff_max: int = 300,
    reject_on_worker_lost: bool = True,
) -> dict:
    """The options every task here is declared with (README, "Celery tasks"): acknowledged only
    once done, so a worker that dies mid-task leaves the message to another one (the tasks are
    idempotent, so a second run is harmless); time limits; transient errors retried with
    exponential backoff and full jitter (5 s, 10 s, 20 s, ... up to `retry_backoff_max`)."""
    if not 0 < soft_time_limit < time_limit:
        raise ValueError("soft_time_limit must be positive and below time_limit")
    return {
        "acks_late": True,
        "reject_on_worker_lost": reject_on_worker_lost,
        "soft_time_limit": soft_time_limit,
        "time_limit": time_limit,
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": 5,
        "retry_backoff_max": retry_backoff_max,
        "retry_jitter": True,
        "max_retries": max_retries,
    }
