"""The report endpoints' query parameters and answers."""

from datetime import date

from django.core.validators import MaxValueValidator, MinValueValidator
from rest_framework import serializers

from campaigns.models import Campaign, Channel

from ..kpis import ATTRIBUTIONS, MODES, Cut
from ..periods import Period

# Report dates stay within these, so that period arithmetic (the day after the end, the previous
# period, local midnights) never leaves Python's date range: 9999-12-31 was a 500.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)


def _report_date(help_text: str, **kwargs) -> serializers.DateField:
    return serializers.DateField(
        help_text=f"{help_text} Between {EARLIEST_DATE} and {LATEST_DATE}.",
        validators=[MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)], **kwargs,
    )


class ReportQuerySerializer(serializers.Serializer):
    """Period and cut of a report. Every error names its parameter."""

    start = _report_date("First day (YYYY-MM-DD) in the organisation's zone.")
    end = _report_date("Last day, included.")
    mode = serializers.ChoiceField(choices=MODES, default="period", required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False)
    cta = serializers.CharField(required=False, max_length=200)
    owner = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    attribution = serializers.ChoiceField(choices=ATTRIBUTIONS, default="first", required=False)
    as_of = _report_date(
        "Cohort mode: count the stages reached by the end of this day (default: by now).",
        required=False,
    )

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end is before start."})
        if "as_of" in attrs:
            if attrs.get("mode", "period") != "cohort":
                raise serializers.ValidationError({"as_of": "as_of is for mode=cohort only."})
            if attrs["as_of"] < attrs["end"]:
                raise serializers.ValidationError({"as_of": "as_of is before end."})
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
    as_of = serializers.DateField(required=False, help_text="Given in cohort mode only.")
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
    as_of = serializers.DateField(required=False, help_text="Given in cohort mode only.")
    kpis = KpiSerializer(many=True)
    previous = serializers.DictField(
        allow_null=True, required=False,
        help_text="With compare=previous: {start, end, kpis} of the preceding period (and its "
        "as_of: as many days after its end as the period's as_of is after the period's end).",
    )


class SnapshotQuerySerializer(serializers.Serializer):
    metric = serializers.ChoiceField(choices=[])
    grain = serializers.ChoiceField(choices=["day", "week", "month"], default="month",
                                    required=False)
    start = serializers.DateField(help_text="Rows whose period starts on or after this day.")
    end = serializers.DateField(help_text="... and on or before this one.")
    dimension = serializers.ChoiceField(choices=["all", "channel", "campaign", "owner"],
                                        required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all(), required=False)
    owner = serializers.IntegerField(required=False, min_value=1)

    def __init__(self, *args, **kwargs):
        from ..kpis import FUNNEL_KPIS

        super().__init__(*args, **kwargs)
        self.fields["metric"].choices = list(FUNNEL_KPIS)

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "end is before start."})
        given = [d for d in ("channel", "campaign", "owner") if attrs.get(d) is not None]
        if len(given) > 1:
            raise serializers.ValidationError(
                {given[1]: f"give one of channel, campaign or owner, not {' and '.join(given)}."}
            )
        dimension = attrs.get("dimension") or (given[0] if given else "all")
        if given and dimension != given[0]:
            raise serializers.ValidationError(
                {"dimension": f"'{dimension}' does not go with the {given[0]} parameter."}
            )
        attrs["dimension"] = dimension
        return attrs


class SnapshotSerializer(serializers.Serializer):
    metric = serializers.CharField()
    grain = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    dimension = serializers.CharField()
    channel = serializers.SerializerMethodField()
    campaign = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    numerator = serializers.FloatField(allow_null=True)
    denominator = serializers.FloatField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    computed_at = serializers.DateTimeField()

    def _slice(self, obj, dimension):
        return obj.dimension_value if obj.dimension == dimension else None

    def get_channel(self, obj) -> str | None:
        return self._slice(obj, "channel")

    def get_campaign(self, obj) -> int | None:
        value = self._slice(obj, "campaign")
        return int(value) if value else None

    def get_owner(self, obj) -> int | None:
        value = self._slice(obj, "owner")
        return int(value) if value else None
