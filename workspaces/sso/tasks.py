"""Periodic SSO work: forgetting expired AuthnRequest ids and assertion ids."""

from celery import shared_task

from workspaces.sso import services


@shared_task(name="workspaces.sso.tasks.saml_expired_purge")
def saml_expired_purge() -> int:
    return services.saml_expired_purge()
