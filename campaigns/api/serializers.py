from rest_framework import serializers

from ..intake import HONEYPOT_FIELD


def _text(max_length: int, help_text: str = "") -> serializers.CharField:
    # Web forms send empty strings, some form builders null: both mean "not given".
    return serializers.CharField(
        required=False, allow_blank=True, allow_null=True, default="", max_length=max_length,
        help_text=help_text,
    )


class IntakeSerializer(serializers.Serializer):
    """One web-form submission. Lengths are those of the Lead and Account fields they fill;
    fields not listed here are ignored."""

    form_key = serializers.CharField(
        required=False, write_only=True, max_length=64,
        help_text="The campaign's form key; or send it in the X-Form-Key header.",
    )
    email = serializers.EmailField(max_length=254)
    first_name = _text(100)
    last_name = _text(100)
    phone = _text(50)
    company = _text(200, "Company name: matched to an existing account ignoring case, or created.")
    job_title = _text(200)
    utm_source = _text(200)
    utm_medium = _text(200)
    utm_campaign = _text(200, "A campaign's UTM code here attributes the lead to that campaign.")
    utm_content = _text(200)
    utm_term = _text(200)
    cta = _text(200, "The content or call to action the lead responded to.")
    landing_page = _text(500, "The page the form was on.")
    website = _text(  # campaigns.intake.HONEYPOT_FIELD
        1000, "Honeypot: leave it empty and hide it from humans. A submission that fills it is "
        "answered like any other and dropped.",
    )

    def validate(self, attrs):
        dropped = {"form_key", HONEYPOT_FIELD}
        return {k: ("" if v is None else v) for k, v in attrs.items() if k not in dropped}


class IntakeReceivedSerializer(serializers.Serializer):
    status = serializers.CharField(default="received")


class IntakeRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
