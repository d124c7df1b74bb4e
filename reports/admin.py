from django.contrib import admin

from .models import KPIDirtyDay, KPISnapshot, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the background work only: readable here, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_seen_at", "hostname", "beats"]
    readonly_fields = ["name", "last_seen_at", "hostname", "beats"]


@admin.register(KPISnapshot)
class KPISnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "metric", "grain", "period_start", "period_end", "dimension", "dimension_value",
        "numerator", "denominator", "value", "version", "computed_at",
    ]
    list_filter = ["grain", "dimension", "metric"]
    date_hierarchy = "period_start"
    search_fields = ["dimension_value"]
    ordering = ["-period_start", "metric", "dimension", "dimension_value"]


@admin.register(KPIDirtyDay)
class KPIDirtyDayAdmin(ReadOnlyAdmin):
    list_display = ["day", "marked_at"]
    ordering = ["day"]
