"""Static files storage for production: whitenoise's hashed, compressed files, without rewriting
JavaScript source-map comments.

Django's manifest storage rewrites `//# sourceMappingURL=...` in every .js file to the map's hashed
name, and refuses to collect when the map is missing. Vendored minified libraries name maps they do
not ship (Chart.js's chart.umd.min.js.map). A browser only asks for a map when its developer tools
are open; a 404 there is harmless, while a refused collectstatic stops a deploy. CSS rewriting
(url(), @import, its source maps) is kept.
"""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = tuple(
        (glob, rules) for glob, rules in ManifestStaticFilesStorage.patterns if glob != "*.js"
    )
