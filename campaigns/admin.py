from django.contrib import admin

from .models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "utm_campaign", "created_at"]
    list_filter = ["channel"]
    search_fields = ["name", "utm_campaign"]
