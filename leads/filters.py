import django_filters
from django.contrib.auth import get_user_model

from campaigns.models import Channel

from .models import Lead
from .stages import Stage


class LeadFilter(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices)
    owner = django_filters.ModelChoiceFilter(queryset=get_user_model().objects.all())
    q = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = Lead
        fields = ["stage", "owner", "channel", "campaign"]

    def filter_search(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(
            Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(account__name__icontains=value)
        )
