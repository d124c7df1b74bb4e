"""Forms of the lead page: move the stage, log an activity. They only read input; the lead
services apply the rules and their errors are put back on these forms' fields."""

from __future__ import annotations

from django import forms

from .exceptions import LifecycleRuleError
from .models import ActivityType, Lead
from .stages import EXIT_STAGES, Stage

# Which field a lifecycle rule's refusal belongs to; the others are about the move as a whole.
RULE_FIELD = {
    "reason_required": "reason",
    "backward_move_requires_note": "note",
    "reopen_requires_note": "note",
    "same_stage": "to_stage",
    "unknown_stage": "to_stage",
}


class LeadMoveForm(forms.Form):
    to_stage = forms.ChoiceField(label="Move to")
    reason = forms.CharField(
        required=False, max_length=500, label="Reason",
        help_text="Needed to mark the lead lost or disqualified.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Chose a competitor"}),
    )
    note = forms.CharField(
        required=False, label="Note", max_length=2000,
        help_text="Needed to move a lead back or to reopen it.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, lead: Lead, **kwargs):
        kwargs.setdefault("auto_id", "move_%s")  # the page has two forms with a note
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].choices = [
            (value, label + (" (needs a reason)" if value in EXIT_STAGES else ""))
            for value, label in Stage.choices
            if value != lead.stage
        ]
        self.initial.setdefault("version", lead.version)

    rule = ""  # the code of the lifecycle rule that refused the move, shown beside its message

    def add_rule_error(self, exc: LifecycleRuleError) -> None:
        self.rule = exc.rule
        self.add_error(RULE_FIELD.get(exc.rule), exc.message)


class ActivityForm(forms.Form):
    type = forms.ChoiceField(label="Activity", choices=ActivityType.choices, initial="call")
    at = forms.DateTimeField(
        label="When", required=False, help_text="Leave empty for now.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        label="Note", required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What was said or agreed"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "activity_%s")
        super().__init__(*args, **kwargs)
