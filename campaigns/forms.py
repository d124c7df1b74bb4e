"""The period picker of the campaign pages: a preset, or a custom start and end (both days
included, PRODUCT.md). An invalid choice falls back to the page's default and says why, naming the
field."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from reports.periods import Period

PRESETS = {
    "life": "Whole life",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "365d": "Last 12 months",
    "ytd": "This year",
    "all": "All time",
    "custom": "Custom…",
}
MODES = {"period": "Period mode", "cohort": "Cohort mode"}


class PeriodForm(forms.Form):
    """`presets`: the keys of PRESETS this page offers, the first being its default."""

    period = forms.ChoiceField(required=False, label="Period")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def __init__(self, data, *, presets: list[str]):
        super().__init__(data)
        self.presets = presets
        self.fields["period"].choices = [(key, PRESETS[key]) for key in presets]

    def clean(self):
        data = super().clean()
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not start and "start" not in self.errors:
                self.add_error("start", "Pick the first day of the custom period.")
            if not end and "end" not in self.errors:
                self.add_error("end", "Pick the last day of the custom period.")
            if start and end and end < start:
                self.add_error("end", "The last day cannot be before the first day.")
        return data

    def preset(self) -> str:
        if self.is_valid() and self.cleaned_data.get("period"):
            return self.cleaned_data["period"]
        return self.presets[0]

    def period_get(self, *, life_start: date | None = None, today: date | None = None) -> Period:
        """The chosen period; `life_start` is where "Whole life" and "All time" begin."""
        today = today or timezone.localdate()
        preset = self.preset()
        if preset == "custom":
            return Period(self.cleaned_data["start"], self.cleaned_data["end"])
        days = {"30d": 30, "90d": 90, "365d": 365}.get(preset)
        if days:
            return Period(today - timedelta(days=days - 1), today)
        if preset == "ytd":
            return Period(today.replace(month=1, day=1), today)
        start = min(life_start or today, today)
        return Period(start, today)

    def error_messages(self) -> list[str]:
        """Each error as one sentence naming its field."""
        out = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else "Period"
            out.extend(f"{label}: {error}" for error in errors)
        return out
