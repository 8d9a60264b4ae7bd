"""Two browsers posting the same assertion at the same moment: exactly one is signed in."""

import threading

import pytest
from django.db import connections
from django.test import Client

from tests.factories import FACTORY_ACTOR, UserFactory, WorkspaceFactory
from tests.workspaces.sso.conftest import DOMAIN, TestIdp, post_acs, start_login
from workspaces.sso import selectors, services


@pytest.mark.django_db(transaction=True)
def test_one_assertion_posted_twice_at_once_signs_in_once(tmp_path):
    workspace = WorkspaceFactory(name="Acme", owner=UserFactory())
    selectors.sp_values(workspace=workspace)
    metadata = Client().get(f"/sso/saml/{workspace.slug}/metadata/").content.decode()
    idp = TestIdp(tmp_path, metadata)
    services.saml_configure(workspace=workspace, actor=FACTORY_ACTOR, idp_metadata=idp.metadata())
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=False
    )
    request_id = start_login(Client(), workspace, idp)
    saml_response = idp.response(in_response_to=request_id)

    barrier = threading.Barrier(2)
    statuses = []

    def post():
        try:
            barrier.wait()
            statuses.append(post_acs(Client(), workspace, saml_response).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [302, 403]
