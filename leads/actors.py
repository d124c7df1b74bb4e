"""Who did it: a user, or a named part of the system (a scoring rule, an import, an API client)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class SystemActor(models.TextChoices):
    SCORING = "scoring", "Scoring"
    IMPORT = "import", "Import"
    API = "api", "API client"
    DEMO = "demo", "Demo data"
    SYSTEM = "system", "System"


Actor = Union["AbstractBaseUser", SystemActor]


def actor_fields(actor: Actor) -> dict:
    """The two columns an actor is stored in: exactly one of them is set."""
    if isinstance(actor, SystemActor):
        return {"actor_user": None, "actor_system": actor.value}
    if isinstance(actor, str):
        return {"actor_user": None, "actor_system": SystemActor(actor).value}
    return {"actor_user": actor, "actor_system": ""}


def is_user(actor: Actor) -> bool:
    return not isinstance(actor, str)
