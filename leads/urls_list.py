"""Lead pages: see leads/urls.py. The lead list, its CSV export and saved views
(leads/views_list.py)."""

from django.urls import path

from . import views_list

urlpatterns = [
    path("", views_list.lead_list_page, name="list"),
    path("export.csv", views_list.lead_list_export, name="export"),
    path("views/", views_list.saved_view_create, name="view_create"),
    path("views/<int:pk>/delete/", views_list.saved_view_delete, name="view_delete"),
]
