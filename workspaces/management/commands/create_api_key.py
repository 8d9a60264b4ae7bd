from django.core.management.base import BaseCommand, CommandError

from tracklayer.exceptions import DomainError
from workspaces import services
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyEnvironment, ApiKeyRole, Workspace


class Command(BaseCommand):
    help = "Create an API key for a workspace; the key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, metavar="SLUG")
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", choices=ApiKeyRole.values, default=ApiKeyRole.WRITE)
        parser.add_argument(
            "--environment", choices=ApiKeyEnvironment.values, default=ApiKeyEnvironment.LIVE
        )

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        try:
            key, token = services.api_key_create(
                workspace=workspace,
                actor=SystemActor("cli"),
                name=options["name"],
                role=options["role"],
                environment=options["environment"],
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        expiry = key.expires_at.date().isoformat() if key.expires_at else "never"
        self.stdout.write(
            f"Created {key.public_id} ({key.role}, expires {expiry}) in {workspace.slug}. "
            "Store it now; it is not shown again:"
        )
        self.stdout.write(token)
