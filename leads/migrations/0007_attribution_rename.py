from django.db import migrations


class Migration(migrations.Migration):
    """The lead's channel and campaign become its first touch; the next migration adds the rest of
    the attribution fields."""

    dependencies = [
        ("leads", "0006_transition_base_manager"),
        ("campaigns", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="lead", name="lead_channel_valid"),
        migrations.RemoveIndex(model_name="lead", name="lead_channel_idx"),
        migrations.RenameField(model_name="lead", old_name="channel", new_name="first_touch_channel"),
        migrations.RenameField(
            model_name="lead", old_name="campaign", new_name="first_touch_campaign"
        ),
    ]
