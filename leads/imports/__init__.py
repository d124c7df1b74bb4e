"""Importing leads from CSV: a HubSpot contacts export or FunnelCRM's own columns.

`leads_import` is the one door: `manage.py import_leads` calls it, and so will any later door.
"""

from .service import FORMATS, ImportFileError, ImportReport, leads_import

__all__ = ["FORMATS", "ImportFileError", "ImportReport", "leads_import"]
