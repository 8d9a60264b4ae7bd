"""The broken-log banner comes from ``audit.context_processors.audit_status``: on every page of
the workspace, and never in the way of a page that has no workspace in its context."""

from django.urls import reverse

from audit.models import AuditVerification


def broken(workspace):
    AuditVerification.objects.create(
        workspace=workspace, valid=False, total_events=3, break_count=1, result={}
    )


def test_the_banner_links_to_the_log_on_a_workspace_page(client, workspace, admin_user):
    broken(workspace)
    client.force_login(admin_user)

    page = client.get(reverse("dashboard:settings", args=[workspace.slug]))

    assert b'data-testid="audit-broken-banner"' in page.content
    assert reverse("audit:log", args=[workspace.slug]).encode() in page.content


def test_a_not_found_page_inside_a_workspace_still_renders(client, workspace, admin_user):
    # The 404 page extends the base layout but gets none of the workspace page's context.
    broken(workspace)
    client.force_login(admin_user)

    page = client.get(reverse("destinations:destination-edit", args=[workspace.slug, "dst_nope"]))

    assert page.status_code == 404


def test_no_banner_while_the_log_verifies(client, workspace, admin_user):
    AuditVerification.objects.create(
        workspace=workspace, valid=True, total_events=3, break_count=0, result={}
    )
    client.force_login(admin_user)

    page = client.get(reverse("dashboard:settings", args=[workspace.slug]))

    assert b"audit-broken-banner" not in page.content
