"""Browser pages of campaigns, under /campaigns/ (namespace "campaigns"): the campaign list and a
campaign's page. Protect each view with `funnelcrm.navigation.page_access("campaigns")`."""

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
]
