"""The pages of the project itself: the landing page, sign-out and the login lockout."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LogoutView
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from .navigation import page_allowed, pages_for


@login_required
def home(request):
    """`/`: the pipeline board for whoever may use it, once that page exists; otherwise a page of
    links to what the user's role may open."""
    if page_allowed(request.user, "board"):
        try:
            return redirect(reverse("leads:board"))
        except NoReverseMatch:
            pass
    return render(request, "home.html", {"pages": pages_for(request.user)})


class SignOutView(LogoutView):
    """POST /logout/: sign out, then the login page says so."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are signed out.")
        return response


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): the login page again, status 429,
    saying why the sign-in is refused and for how long."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = AuthenticationForm(request)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form.initial["username"] = username
    lockout = (
        f"Too many failed sign-ins. Signing in as {username} from this address is blocked for "
        f"{minutes} minutes. Try again later, or ask an admin to unlock your account."
    )
    context = {"form": form, "lockout": lockout, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
