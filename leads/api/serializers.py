from django.contrib.auth import get_user_model
from rest_framework import serializers

from campaigns.models import Campaign, Channel

from ..models import Account, Lead, StageTransition
from ..stages import Stage

ATTRIBUTION_FIELDS = [
    "first_touch_channel", "first_touch_campaign", "last_touch_channel", "last_touch_campaign",
    "last_touch_at", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "cta",
    "landing_page",
]
ATTRIBUTION_READ_ONLY = [f for f in ATTRIBUTION_FIELDS if f != "cta"]


class AccountRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name", "domain"]


class ScoreItemSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    rule = serializers.CharField(source="rule.name")
    kind = serializers.CharField(source="rule.kind")
    points = serializers.IntegerField()
    count = serializers.IntegerField()


class LeadSerializer(serializers.ModelSerializer):
    """A lead as clients read it. Stage, owner, score, version and the first-reached dates are
    read-only: they change only through the move, assign and scoring services."""

    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    owner_username = serializers.CharField(
        source="owner.username", read_only=True, default=None, allow_null=True
    )
    account = AccountRefSerializer(read_only=True, allow_null=True)
    score_breakdown = ScoreItemSerializer(
        source="score_items", many=True, read_only=True,
        help_text="The rules that fired and their points; they add up to the score.",
    )

    class Meta:
        model = Lead
        fields = [
            "id", "first_name", "last_name", "email", "phone", "job_title",
            "account", "owner", "owner_username", "stage", "score", "score_breakdown",
            "ready_for_sales_at", *ATTRIBUTION_FIELDS,
            "became_lead_at", "became_mql_at", "became_sql_at", "became_opportunity_at",
            "became_won_at", "closed_at", "exit_reason", "deal_amount", "version",
            "created_at", "updated_at",
        ]
        read_only_fields = [
            "stage", "score", "ready_for_sales_at", "became_lead_at", "became_mql_at",
            "became_sql_at", "became_opportunity_at", "became_won_at", "closed_at", "exit_reason",
            "version", *ATTRIBUTION_READ_ONLY,
            "created_at", "updated_at",
        ]


class LeadWriteSerializer(serializers.ModelSerializer):
    """The fields a client may set on create and update; the service validates the rest."""

    email = serializers.EmailField(max_length=254)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), required=False, allow_null=True
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False,
        help_text="First-touch channel. On create, a campaign (given or matched by utm_campaign) "
        "decides it; otherwise this, otherwise the UTM source and medium.",
    )
    campaign = serializers.PrimaryKeyRelatedField(
        queryset=Campaign.objects.all(), required=False, allow_null=True,
        help_text="First-touch campaign.",
    )
    utm_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_medium = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_campaign = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_content = serializers.CharField(required=False, allow_blank=True, max_length=200)
    utm_term = serializers.CharField(required=False, allow_blank=True, max_length=200)
    landing_page = serializers.CharField(required=False, allow_blank=True, max_length=500)
    version = serializers.IntegerField(
        required=False, min_value=1, write_only=True,
        help_text="The version you read; a stale one answers 409.",
    )

    class Meta:
        model = Lead
        fields = [
            "first_name", "last_name", "email", "phone", "job_title", "account", "channel",
            "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
            "cta", "landing_page", "deal_amount", "version",
        ]
        extra_kwargs = {"email": {"validators": []}}


class LeadMoveSerializer(serializers.Serializer):
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you read; a stale one answers 409."
    )


class LeadAssignSerializer(serializers.Serializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), allow_null=True,
        help_text="The user who will own the lead; null leaves it unassigned.",
    )
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you read; a stale one answers 409."
    )


class StageTransitionSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = StageTransition
        fields = ["id", "from_stage", "to_stage", "at", "actor", "note", "reason"]
        read_only_fields = fields


class LifecycleErrorSerializer(serializers.Serializer):
    rule = serializers.CharField()
    detail = serializers.CharField()


class ConflictErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField()


class PreconditionRequiredSerializer(serializers.Serializer):
    detail = serializers.CharField()
