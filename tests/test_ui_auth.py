"""The browser UI's doors: sign-in, sign-out, login throttling, and the nav each role sees."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from funnelcrm.navigation import PAGES, page_allowed, pages_for, role_label
from leads import roles

from .factories import UserFactory

pytestmark = pytest.mark.django_db

UI_NAMESPACES = {"leads", "campaigns", "reports", "settings"}
SAMPLE_ARGS = {
    "int": 1, "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000001",
}


def ui_urls() -> list[str]:
    """`/` and every page of the browser apps' urls modules, with sample values for their
    arguments: a page added later is covered without touching this test."""
    urls = ["/"]
    for entry in get_resolver().url_patterns:
        if not isinstance(entry, URLResolver) or entry.namespace not in UI_NAMESPACES:
            continue
        for pattern in entry.url_patterns:
            if isinstance(pattern, URLPattern) and pattern.name:
                converters = pattern.pattern.converters
                kwargs = {
                    name: SAMPLE_ARGS.get(type(conv).__name__.removesuffix("Converter").lower(), 1)
                    for name, conv in converters.items()
                }
                urls.append(reverse(f"{entry.namespace}:{pattern.name}", kwargs=kwargs))
    return urls


def nav_keys(response) -> list[str]:
    html = response.content.decode()
    return [page.key for page in PAGES if f'data-nav="{page.key}"' in html]


def test_login_page_renders_the_form(client):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert "csrfmiddlewaretoken" in html
    assert "pico.min.css" in html
    assert "htmx.min.js" in html


@pytest.mark.parametrize("url", ui_urls())
def test_every_ui_url_sends_anonymous_users_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_pages_need_login_unless_marked_otherwise(client, db):
    # LoginRequiredMiddleware: a view needs @login_not_required to be public.
    assert client.get("/healthz/").status_code == 200
    assert client.get("/api/v1/leads/").status_code == 401  # the API answers for itself
    assert client.get("/admin/").status_code == 302


def test_wrong_password_says_so(client, rep):
    response = client.post("/login/", {"username": "rep1", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_lands_on_home_then_the_next_page(client, rep):
    response = client.post("/login/", {"username": "rep1", "password": "pw"})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    response = client.post(
        "/login/", {"username": "rep1", "password": "pw", "next": "/api/docs/"}
    )
    assert response["Location"] == "/api/docs/"


def test_logout_is_a_post_that_ends_the_session(client, rep):
    client.force_login(rep)

    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/"
    assert "You are signed out." in response.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("rep", ["board", "leads", "campaigns", "reports"]),
        ("marketer", ["board", "leads", "campaigns", "reports"]),
        ("manager", ["board", "leads", "campaigns", "reports"]),
        ("admin_user", ["board", "leads", "campaigns", "reports", "scoring", "admin"]),
    ],
)
def test_nav_shows_each_role_what_it_may_use(client, request, who, expected):
    user = request.getfixturevalue(who)
    client.force_login(user)

    response = client.get("/", follow=True)

    assert response.status_code == 200
    assert nav_keys(response) == expected
    assert [page.key for page in pages_for(user)] == expected


def test_header_names_the_user_and_their_role(client, rep, admin_user):
    client.force_login(rep)
    html = client.get("/", follow=True).content.decode()

    assert '<span class="app-user-name" data-user>rep1</span>' in html
    assert '<span class="badge" data-role>Sales rep</span>' in html
    assert role_label(admin_user) == roles.ADMIN


def test_staff_rep_gets_the_admin_link_but_not_scoring(client):
    staff_rep = UserFactory(username="staffrep", role=roles.SALES_REP, is_staff=True)
    client.force_login(staff_rep)

    keys = nav_keys(client.get("/", follow=True))

    assert "admin" in keys
    assert "scoring" not in keys


def test_user_without_role_is_told_to_ask_for_one(client):
    nobody = UserFactory(username="nobody")
    client.force_login(nobody)

    response = client.get("/")

    assert response.status_code == 200
    assert nav_keys(response) == []
    assert "has no role yet" in response.content.decode()
    assert role_label(nobody) == "No role"


def test_inactive_or_anonymous_users_may_open_nothing(rep):
    from django.contrib.auth.models import AnonymousUser

    rep.is_active = False

    assert not any(page_allowed(rep, page.key) for page in PAGES)
    assert not any(page_allowed(AnonymousUser(), page.key) for page in PAGES)


def test_home_costs_a_bounded_number_of_queries(client, rep, django_assert_max_num_queries):
    client.force_login(rep)

    # session, user, the user's and their groups' permissions: `/` sends a rep to the board,
    # whose own bound is pinned in tests/leads/test_board_pages.py
    with django_assert_max_num_queries(5):
        response = client.get("/")
    assert response.status_code == 302


# --- Throttling (django-axes) -------------------------------------------------------------------


def _fail(client, username="rep1", times=1):
    for _ in range(times):
        response = client.post("/login/", {"username": username, "password": "wrong"})
    return response


def test_five_failures_lock_the_username_out_even_with_the_right_password(client, rep, axes_on):
    # given: four failures are still answered with the form's error
    assert _fail(client, times=4).status_code == 200

    # when: the fifth fails too
    response = _fail(client)

    # then: the page says it is locked, and the right password no longer works
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "15 minutes" in response.content.decode()
    response = client.post("/login/", {"username": "rep1", "password": "pw"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username(client, rep, other_rep, axes_on):
    _fail(client, times=5)

    response = client.post("/login/", {"username": "rep2", "password": "pw"})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other_rep.pk)


def test_a_success_clears_the_count(client, rep, axes_on):
    _fail(client, times=4)
    assert client.post("/login/", {"username": "rep1", "password": "pw"}).status_code == 302
    client.logout()

    response = _fail(client, times=4)

    assert response.status_code == 200


def test_the_admin_login_is_throttled_too(client, admin_user, axes_on):
    for _ in range(5):
        client.post("/admin/login/", {"username": "admin", "password": "wrong"})

    response = client.post("/admin/login/", {"username": "admin", "password": "pw"})

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
