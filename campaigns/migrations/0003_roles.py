"""Role permissions for daily metrics and nurture workflows (leads/roles.py)."""

from django.db import migrations

from leads.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_campaign_details_metrics_nurture"),
        ("leads", "0008_attribution"),
    ]
    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
