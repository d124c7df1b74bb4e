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
