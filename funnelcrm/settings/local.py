"""Local development: DEBUG is on by default; everything is embedded unless the environment says
otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
WHITENOISE_AUTOREFRESH = True  # serve static files from their sources; no collectstatic needed
