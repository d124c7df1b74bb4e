"""The scoring settings row, the nightly decay schedule, and role permissions for the new models."""

from django.db import migrations

from leads.roles import roles_sync

NIGHTLY = "Nightly score decay"


def forward(apps, schema_editor):
    apps.get_model("leads", "ScoringSettings").objects.get_or_create(pk=1)
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    from django.conf import settings

    at_two, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY, defaults={"task": "leads.tasks.scoring_decay_task", "crontab": at_two}
    )
    roles_sync(apps, schema_editor)


def backward(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NIGHTLY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0004_scoring"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forward, backward)]
