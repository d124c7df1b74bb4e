from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from reports.views import healthz

from .views import SignOutView, home

admin.site.site_header = "FunnelCRM administration"
admin.site.site_title = "FunnelCRM"
admin.site.index_title = "Pipeline, campaigns and settings"

# Each app's browser pages live in its own urls module, so pages are added without editing this one.
urlpatterns = [
    path("", home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", SignOutView.as_view(), name="logout"),
    path("leads/", include("leads.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("reports/", include("reports.urls")),
    path("settings/", include("leads.urls_settings")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("funnelcrm.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz/", login_not_required(healthz), name="healthz"),
]

handler404 = "funnelcrm.errors.not_found"
