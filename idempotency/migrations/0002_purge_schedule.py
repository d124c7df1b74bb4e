"""Beat's hourly purge of expired idempotency keys, as a periodic task an admin can edit."""

from django.db import migrations
from django.utils import timezone

NAME = "Purge expired API idempotency keys"
TASK = "idempotency.tasks.idempotency_keys_purge_task"


def _tell_beat(apps):
    # A running beat reloads its schedule when this row changes (the model's signals, which
    # would do it, are not sent for a migration's historical models).
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def forward(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": TASK, "interval": hourly})
    _tell_beat(apps)


def backward(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()
    _tell_beat(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("idempotency", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forward, backward)]
