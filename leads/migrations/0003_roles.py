from django.db import migrations

from leads.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0002_transitions_immutable"),
        ("campaigns", "0001_initial"),
        ("reports", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
