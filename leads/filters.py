import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from campaigns.models import Campaign, Channel

from .models import Lead
from .stages import Stage


class PreloadableModelChoiceField(django_filters.fields.ModelChoiceField):
    """A ModelChoiceField a page can hand its options to (`preload`), so that rendering them and
    checking the chosen one run no query of their own: the lead list loads every select's options
    in one query to stay within its query budget. Without a preload it is a ModelChoiceField."""

    preloaded: dict | None = None

    def preload(self, objects) -> None:
        self.preloaded = {str(obj.pk): obj for obj in objects}
        choices = [(obj.pk, self.label_from_instance(obj)) for obj in objects]
        if self.null_label is not None:
            choices.insert(0, (self.null_value, self.null_label))
        # ChoiceField's own setter: this class's would wrap a list in the queryset iterator.
        forms.ChoiceField.choices.fset(self, [("", self.empty_label), *choices])

    def to_python(self, value):
        if self.preloaded is None or value in self.empty_values:
            return super().to_python(value)
        if self.null_label is not None and value == self.null_value:
            return value
        try:
            return self.preloaded[str(value)]
        except KeyError:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice",
                params={"value": value},
            )


class PreloadableModelChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = PreloadableModelChoiceField


class LeadFilter(django_filters.FilterSet):
    # Every filter names its label: a label django-filter works out from the model is worked out
    # on first use, and the schema generator uses the class's own filters before any model is
    # set on them, which left later forms with no label ("Select a valid choice" of what?).
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, label="Stage")
    channel = django_filters.MultipleChoiceFilter(
        field_name="first_touch_channel", choices=Channel.choices, label="First-touch channel"
    )
    last_touch_channel = django_filters.MultipleChoiceFilter(
        choices=Channel.choices, label="Last-touch channel"
    )
    campaign = PreloadableModelChoiceFilter(
        field_name="first_touch_campaign", queryset=Campaign.objects.all(),
        label="First-touch campaign",
    )
    cta = django_filters.CharFilter(lookup_expr="iexact", label="Content / CTA")
    owner = PreloadableModelChoiceFilter(
        queryset=get_user_model().objects.all(), null_label="Unassigned", label="Owner"
    )
    score_min = django_filters.NumberFilter(
        field_name="score", lookup_expr="gte", label="Score from"
    )
    score_max = django_filters.NumberFilter(
        field_name="score", lookup_expr="lte", label="Score to"
    )
    q = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = Lead
        fields = [
            "stage", "owner", "channel", "campaign", "last_touch_channel", "cta", "score_min",
            "score_max",
        ]

    def filter_search(self, queryset, name, value):
        """Every word must appear in the email, a name or the company ("ada acme" finds Ada
        Lovelace of Acme)."""
        for word in value.split():
            queryset = queryset.filter(
                Q(email__icontains=word)
                | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(account__name__icontains=word)
            )
        return queryset
