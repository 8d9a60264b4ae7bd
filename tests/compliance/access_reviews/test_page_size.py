"""A campaign page for a large workspace: a page of rows at a time (each with its decision
form), filtered to the undecided, the decided or the flagged ones; the figures and the
actions stay over every item, and the forms carry the filter so their answers keep it."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.access_reviews import services, views
from compliance.access_reviews.models import Campaign
from tests.compliance.access_reviews.conftest import item_of
from workspaces.models import Membership, Role, User

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _detail(campaign, **query):
    url = reverse(
        "access_reviews:detail",
        kwargs={"slug": campaign.workspace.slug, "campaign_id": campaign.public_id},
    )
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _subjects(page) -> list[str]:
    html = page if isinstance(page, str) else page.content.decode()
    return [part.split('"', 1)[0] for part in html.split('<tr data-subject="')[1:]]


def test_a_page_at_a_time(client, admin_user, campaign, people, keys, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client.force_login(admin_user)

    first = client.get(_detail(campaign))
    middle = client.get(_detail(campaign, page=2))
    last = client.get(_detail(campaign, page=3))

    members = sorted(campaign.items.filter(kind="member"), key=lambda i: (i.name, i.subject_id))
    assert _subjects(first) == [i.subject_id for i in members[:2]]
    assert first.content.decode().count('data-testid="decide-form"') == 2
    assert "1–2 of 5" in first.content.decode()
    assert 'data-testid="api-keys"' not in first.content.decode()  # they are further on
    assert _subjects(middle)[0] == members[2].subject_id  # the last member, then a key
    keys_shown = _subjects(middle)[1:] + _subjects(last)
    assert set(keys_shown) == {keys["storefront"].public_id, keys["reporting"].public_id}
    assert 'data-testid="members"' not in last.content.decode()
    # The figures are over every item, whatever the page
    assert "0 of 5" in last.content.decode()


def test_undecided_decided_and_flagged(client, admin_user, campaign, people, keys, decide):
    decide(campaign, keys["storefront"].public_id, "confirm")
    client.force_login(admin_user)

    undecided = client.get(_detail(campaign, show="undecided"))
    decided = client.get(_detail(campaign, show="decided"))
    flagged = client.get(_detail(campaign, show="flagged"))

    assert keys["storefront"].public_id not in _subjects(undecided)
    assert len(_subjects(undecided)) == 4 and "Undecided (4)" in undecided.content.decode()
    assert _subjects(decided) == [keys["storefront"].public_id]
    assert "No decided member." in decided.content.decode()
    # Without MFA: the editor and the viewer (the admin has an authenticator app)
    assert set(_subjects(flagged)) == {people["editor"].public_id, people["viewer"].public_id}
    assert 'aria-current="true" data-show="flagged"' in flagged.content.decode()


def test_a_filter_that_does_not_exist_is_400_and_shows_every_row(client, admin_user, campaign):
    client.force_login(admin_user)

    response = client.get(_detail(campaign, show="everything"))

    assert response.status_code == 400
    assert 'data-testid="filter-error"' in response.content.decode()
    assert len(_subjects(response)) == 5
    assert client.get(_detail(campaign, page="x")).status_code == 400


def test_the_forms_carry_the_filter_so_their_answers_keep_it(
    client, workspace, admin_user, campaign, people
):
    client.force_login(admin_user)
    page = client.get(_detail(campaign, show="undecided")).content.decode()
    decide_url = reverse(
        "access_reviews:decide",
        kwargs={"slug": workspace.slug, "campaign_id": campaign.public_id},
    )
    assert f'hx-post="{decide_url}?show=undecided"' in page

    item = item_of(campaign, people["viewer"].public_id)
    answer = client.post(
        decide_url + "?show=undecided",
        {"item": item.public_id, "decision": "remove", "comment": "Left"},
        **HTMX,
    ).content.decode()

    assert _subjects(answer) == [people["viewer"].public_id]  # the decided row only
    assert "complete/?show=undecided" in answer  # the actions, out of band, keep the filter


def test_twelve_hundred_subjects(client, workspace, admin_user, make_api_key):
    users = User.objects.bulk_create(
        User(email=f"member{n}@example.test", name=f"Member {n:04}") for n in range(1_000)
    )
    Membership.objects.bulk_create(
        Membership(workspace=workspace, user=user, role=Role.VIEWER) for user in users
    )
    for n in range(199):
        make_api_key(workspace, name=f"Key {n:03}")
    campaign = services.access_review_open(workspace=workspace, actor=admin_user)
    assert Campaign.objects.get().items.count() == 1_200
    client.force_login(admin_user)

    started = time.perf_counter()
    page = client.get(_detail(campaign))
    elapsed = time.perf_counter() - started

    assert page.status_code == 200
    assert page.content.decode().count('data-testid="decide-form"') == views.PAGE_SIZE
    assert "1–100 of 1200" in page.content.decode()
    print(f"\n1,200 subjects: page {elapsed:.2f} s, {len(page.content) / 1024:.0f} KiB")
    assert len(page.content) < 400_000


def test_the_list_counts_in_the_database_without_loading_items(
    client, workspace, admin_user, campaign, people, decide
):
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    decide(campaign, people["editor"].public_id, "change", new_role="viewer", comment="Reads")
    client.force_login(admin_user)
    url = reverse("access_reviews:list", kwargs={"slug": workspace.slug})

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)

    row = page.content.decode().split(f'data-campaign="{campaign.public_id}"', 1)[1]
    cells = [cell.split("</td>", 1)[0] for cell in row.split('<td class="num">')[1:4]]
    assert cells == ["2 / 5", "1", "1"]
    assert not any('"access_reviews_item"."comment"' in q["sql"] for q in queries.captured_queries)


def test_an_unknown_item_with_a_bad_decision_answers_with_the_section_not_a_row(
    client, workspace, admin_user, campaign
):
    client.force_login(admin_user)
    url = reverse(
        "access_reviews:decide",
        kwargs={"slug": workspace.slug, "campaign_id": campaign.public_id},
    )

    response = client.post(url, {"item": "ari_nope", "decision": ""}, **HTMX)

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#access-review"  # never a whole section inside a <tr>
