from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs):
    # The data migration creates the groups; this keeps the Admin group's "every permission"
    # complete when apps migrated after it add permissions of their own.
    from django.apps import apps

    from .roles import roles_sync

    roles_sync(apps)


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads and lifecycle"

    def ready(self):
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="leads_sync_roles")
