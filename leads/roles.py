"""The four roles of PRODUCT.md as Django groups. Data migrations call `roles_sync` so that every
database, fresh or old, has the same groups and permissions; later apps add their permissions here
and ship a migration that calls it again."""

SALES_REP = "Sales rep"
MARKETER = "Marketer"
MANAGER = "Manager"
ADMIN = "Admin"

_REP = [
    "leads.view_lead", "leads.add_lead", "leads.change_lead",
    "leads.view_account", "leads.add_account", "leads.change_account",
    "leads.view_activity", "leads.add_activity",
    "leads.view_stagetransition",
    "campaigns.view_campaign", "campaigns.view_dailymetric", "campaigns.view_nurtureworkflow",
    "campaigns.view_nurtureenrolment",
]
_MARKETER = [
    *_REP,
    "leads.view_all_leads",
    "campaigns.add_campaign", "campaigns.change_campaign",
    "campaigns.add_dailymetric", "campaigns.change_dailymetric", "campaigns.delete_dailymetric",
    "campaigns.add_nurtureworkflow", "campaigns.change_nurtureworkflow",
    "campaigns.add_nurtureenrolment", "campaigns.change_nurtureenrolment",
    "leads.view_scoringrule", "leads.view_scoringsettings",
]
_MANAGER = [
    *_MARKETER,
    "leads.move_lead_backward", "leads.reopen_lead", "leads.reassign_lead",
    "leads.view_rescorerun",
]

ROLE_PERMISSIONS = {
    SALES_REP: _REP,
    MARKETER: _MARKETER,
    MANAGER: _MANAGER,
    ADMIN: None,  # every permission
}


def roles_sync(apps, schema_editor=None):
    """Create or update the role groups. Safe to run any number of times."""
    from django.contrib.auth.management import create_permissions
    from django.db.models import Q

    for app_config in apps.get_app_configs():
        # Historical app configs (in migrations) have no models module, which create_permissions
        # takes to mean "no models"; stand one in for the call and put the original back.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        if perms is None:
            group.permissions.set(Permission.objects.all())
            continue
        # A permission of a model that a later migration creates is granted when that
        # migration calls roles_sync again.
        wanted = Q()
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))
