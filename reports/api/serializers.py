"""The report endpoints' query parameters and answers."""

from rest_framework import serializers

from campaigns.models import Campaign, Channel

from ..kpis import ATTRIBUTIONS, MODES, Cut
from ..periods import Period


class ReportQuerySerializer(serializers.Serializer):
    """Period and cut of a report. Every error names its parameter."""

    start = serializers.DateField(help_text="First day (YYYY-MM-DD) in the organisation's zone.")
    end = serializers.DateField(help_text="Last day, included.")
    mode = serializers.ChoiceField(choices=MODES, default="period", required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False)
    cta = serializers.CharField(required=False, max_length=200)
    owner = serializers.IntegerField(required=False, min_value=1)
    attribution = serializers.ChoiceField(choices=ATTRIBUTIONS, default="first", required=False)

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end is before start."})
        if (attrs["end"] - attrs["start"]).days > 3660:
            raise serializers.ValidationError({"end": "a period spans at most 10 years."})
        return attrs

    def period(self) -> Period:
        return Period(self.validated_data["start"], self.validated_data["end"])

    def cut(self) -> Cut:
        data = self.validated_data
        campaign = data.get("campaign")
        return Cut(
            channel=data.get("channel"), campaign=campaign.pk if campaign else None,
            cta=data.get("cta"), owner=data.get("owner"), attribution=data["attribution"],
        )


class KpiQuerySerializer(ReportQuerySerializer):
    compare = serializers.ChoiceField(
        choices=["previous"], required=False,
        help_text="`previous`: the same KPIs for the preceding period of equal length.",
    )


class FunnelCountsSerializer(serializers.Serializer):
    lead = serializers.IntegerField()
    mql = serializers.IntegerField()
    sql = serializers.IntegerField()
    opportunity = serializers.IntegerField()
    won = serializers.IntegerField()


class FunnelRatesSerializer(serializers.Serializer):
    visitor_to_lead = serializers.FloatField(allow_null=True)
    lead_to_mql = serializers.FloatField(allow_null=True)
    mql_to_sql = serializers.FloatField(allow_null=True)
    sql_to_opportunity = serializers.FloatField(allow_null=True)
    opportunity_to_won = serializers.FloatField(allow_null=True)


class FunnelSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES)
    start = serializers.DateField()
    end = serializers.DateField()
    channel = serializers.CharField(allow_null=True)
    campaign = serializers.IntegerField(allow_null=True)
    owner = serializers.IntegerField(allow_null=True)
    attribution = serializers.ChoiceField(choices=ATTRIBUTIONS)
    visitors = serializers.IntegerField(allow_null=True)
    counts = FunnelCountsSerializer()
    rates = FunnelRatesSerializer()


class KpiSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    numerator = serializers.FloatField(allow_null=True)
    denominator = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()


class KpiSummarySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    mode = serializers.ChoiceField(choices=MODES)
    kpis = KpiSerializer(many=True)
    previous = serializers.DictField(
        allow_null=True, required=False,
        help_text="With compare=previous: {start, end, kpis} of the preceding period.",
    )
