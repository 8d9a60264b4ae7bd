"""``tracklayer scim-token --workspace SLUG [--name N]``: a new SCIM bearer token for the
workspace's identity provider, printed once, on the last line (docs/identity.md, "SCIM")."""

from django.core.management.base import BaseCommand, CommandError

from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.scim import services


class Command(BaseCommand):
    help = "Create a SCIM token for a workspace; the token is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, metavar="SLUG")
        parser.add_argument("--name", default="", help="what the token is for (e.g. Okta)")

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        try:
            token, secret = services.scim_token_create(
                workspace=workspace, actor=SystemActor("cli"), name=options["name"]
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"Created SCIM token {token.public_id} ({token.display_prefix}…) in "
            f"{workspace.slug}. The SCIM base URL is /scim/v2/. "
            "Store the token now; it is not shown again:"
        )
        self.stdout.write(secret)
