import django_filters
from django.contrib.auth import get_user_model

from campaigns.models import Campaign, Channel

from .models import Lead
from .stages import Stage


class LeadFilter(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    channel = django_filters.MultipleChoiceFilter(
        field_name="first_touch_channel", choices=Channel.choices, label="First-touch channel"
    )
    last_touch_channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    campaign = django_filters.ModelChoiceFilter(
        field_name="first_touch_campaign", queryset=Campaign.objects.all(),
        label="First-touch campaign",
    )
    cta = django_filters.CharFilter(lookup_expr="iexact", label="Content / CTA")
    owner = django_filters.ModelChoiceFilter(queryset=get_user_model().objects.all())
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
        from django.db.models import Q

        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(account__name__icontains=value)
        )
