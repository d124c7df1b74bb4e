"""Template context for every page: the header's nav, from `funnelcrm.navigation`."""

from django.utils.functional import SimpleLazyObject

from .navigation import active_key, pages_for, role_label


def navigation(request):
    """`nav`: {"pages": [Page...], "active": key or None, "role": str} for the signed-in user.

    Lazy, so a response that never shows the header (an htmx fragment, an API call) runs no query
    for it. Showing it costs one query (the user's groups, for the role name); the permission checks
    share the user's permission cache with the view's own checks.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": None}

    def build():
        pages = pages_for(user)
        return {"pages": pages, "active": active_key(request.path, pages), "role": role_label(user)}

    return {"nav": SimpleLazyObject(build)}
