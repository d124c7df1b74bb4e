"""Lead pages: see leads/urls.py."""

urlpatterns = []
