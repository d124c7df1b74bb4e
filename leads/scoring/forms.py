"""Forms of the scoring settings page. Validation is the models' own (`clean()`, validators),
so a page, the admin and the services refuse the same things with the same messages; saving goes
through `leads.scoring.services`."""

from django import forms

from .models import ScoringRule, ScoringSettings
from .services import SETTINGS_FIELDS


class ScoringSettingsForm(forms.ModelForm):
    class Meta:
        model = ScoringSettings
        fields = list(SETTINGS_FIELDS)
        labels = {
            "mql_threshold": "MQL threshold",
            "sql_threshold": "SQL threshold",
            "sql_auto_promote": "Promote to SQL automatically",
            "half_life_days": "Engagement half-life (days)",
        }
        help_texts = {
            "mql_threshold": "A lead scoring this or more becomes an MQL.",
            "sql_threshold": "An MQL scoring this or more is ready for sales.",
        }


class ScoringRuleForm(forms.ModelForm):
    class Meta:
        model = ScoringRule
        fields = ["name", "active", "kind", "points", "field", "operator", "value",
                  "activity_type", "cap"]
        labels = {"field": "Lead field", "activity_type": "Activity", "cap": "Cap (points)",
                  "active": "Active"}
        widgets = {"value": forms.TextInput()}
