"""``tracklayer saml-configure``: a workspace's SAML SSO from the IdP's metadata, for
automation — the same services as Settings → Identity, and idempotent (running it again with
the same arguments changes nothing and records nothing).

    tracklayer saml-configure --workspace acme --idp-metadata okta.xml --domains acme.com \\
        --enforce --default-role viewer --group-role "Engineering=editor" --group-role "IT=admin"

``--idp-metadata`` is a file, ``-`` for standard input, or an https:// URL fetched through the
egress policy. ``--group-role`` replaces the whole mapping when given; without it the mapping
is left as it is.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import Role, Workspace
from workspaces.sso import selectors, services

ACTOR = SystemActor("cli")


def _group_role(value: str) -> tuple[str, str]:
    group, sep, role = value.rpartition("=")
    if not sep or not group.strip() or role.strip() not in Role.values:
        raise CommandError(
            f"--group-role {value!r}: give GROUP=ROLE, ROLE one of {', '.join(Role.values)}."
        )
    return group.strip(), role.strip()


class Command(BaseCommand):
    help = "Configure a workspace's SAML SSO from its IdP's metadata (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, metavar="SLUG")
        parser.add_argument(
            "--idp-metadata", required=True, metavar="FILE", help="a file, - (stdin) or a URL"
        )
        parser.add_argument("--domains", required=True, metavar="A.COM[,B.COM]")
        parser.add_argument("--enforce", action="store_true", help="SSO only for these domains")
        parser.add_argument("--default-role", choices=Role.values, default=None)
        parser.add_argument(
            "--group-role", action="append", default=[], metavar="GROUP=ROLE", dest="group_roles"
        )

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        mapping = dict(_group_role(v) for v in options["group_roles"])
        source = options["idp_metadata"]
        metadata: dict = {}
        if source.startswith(("https://", "http://")):
            metadata["idp_metadata_url"] = source
        else:
            try:
                metadata["idp_metadata"] = (
                    sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
                )
            except OSError as error:
                raise CommandError(f"--idp-metadata: {error.strerror}: {source}") from None
        domains = [d for d in options["domains"].split(",") if d.strip()]
        try:
            with transaction.atomic():
                config = services.saml_configure(workspace=workspace, actor=ACTOR, **metadata)
                if mapping or options["default_role"]:
                    services.group_roles_set(
                        workspace=workspace,
                        actor=ACTOR,
                        mapping=mapping or _current_mapping(workspace),
                        default_role=options["default_role"] or config.default_role,
                    )
                services.managed_domains_set(
                    workspace=workspace,
                    actor=ACTOR,
                    domains=domains,
                    enforce=options["enforce"],
                )
        except DomainError as error:
            where = f" ({error.field})" if error.field else ""
            raise CommandError(f"{error.message}{where}") from None
        values = selectors.sp_values(workspace=workspace)
        self.stdout.write(f"SAML SSO configured for {workspace.slug}:")
        self.stdout.write(f"  IdP entity id   {config.idp_entity_id}")
        self.stdout.write(f"  domains         {', '.join(sorted(set(domains)))}")
        self.stdout.write(f"  enforced        {'yes' if options['enforce'] else 'no'}")
        self.stdout.write(f"  SP entity id    {values['entity_id']}")
        self.stdout.write(f"  ACS URL         {values['acs_url']}")
        self.stdout.write(f"  SP metadata     {values['metadata_url']}")


def _current_mapping(workspace) -> dict[str, str]:
    from workspaces.selectors import group_role_list

    return {row.group: row.role for row in group_role_list(workspace=workspace)}
