"""``tracklayer workspace move-region --workspace SLUG --to eu [--yes] [--batch-size N]``.

Moves a workspace's data plane to another region (docs/regions.md): copy in batches, verify
counts and checksums per table, switch, delete the source's copy. Without ``--yes`` it shows
what will happen and asks for the slug. Run again after a crash, it resumes the open move
(``--to`` must name that move's target).
"""

from django.core.management.base import BaseCommand, CommandError

from destinations.residency import services
from tracklayer.exceptions import DomainError
from tracklayer.regions import REGIONS
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.region_moves import data_plane_counts

ACTOR = SystemActor("cli")


class Command(BaseCommand):
    help = "Workspace operations: move-region (move a workspace's data to another region)."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        move = verbs.add_parser("move-region", help="move the workspace's data plane")
        move.add_argument("--workspace", required=True, metavar="SLUG")
        move.add_argument("--to", required=True, metavar="REGION", help=", ".join(REGIONS))
        move.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        move.add_argument("--batch-size", type=int, default=services.BATCH_SIZE, metavar="ROWS")

    def handle(self, *args, verb: str, **options):
        slug = options.pop("workspace")
        workspace = Workspace.objects.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {slug!r}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            self.move_region(workspace, **options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def move_region(self, workspace, *, to: str, yes: bool, batch_size: int, **_):
        open_move = services.region_move_open(workspace)
        if open_move is not None and open_move.target != to:
            raise CommandError(
                f"{workspace.slug} has an open move to {open_move.target} "
                f"({open_move.public_id}, {open_move.state}); run it again with "
                f"--to {open_move.target} to resume it."
            )
        if open_move is None and to not in REGIONS:
            raise CommandError(f"Unknown region {to!r} (regions: {', '.join(REGIONS)}).")
        if open_move is None and to == workspace.region:
            raise CommandError(f"{workspace.slug} already lives in {to}.")
        if not yes:
            self._show_plan(workspace, to=to, open_move=open_move)
            answer = input(f"Type the workspace's slug ({workspace.slug}) to go on: ")
            if answer.strip() != workspace.slug:
                raise CommandError("Not confirmed; nothing was changed.")
        move = services.region_move(
            workspace=workspace,
            actor=ACTOR,
            target=to,
            batch_size=batch_size,
            progress=self._progress,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{workspace.slug} moved to {move.target} ({move.public_id}, {move.state})."
            )
        )
        for table, figures in move.tables.items():
            self.stdout.write(
                f"  {table:<36} {figures['rows']:>10} rows  {figures['checksum']}  "
                f"deleted from {move.source}: {move.deleted.get(table, 0)}"
            )

    def _show_plan(self, workspace, *, to: str, open_move) -> None:
        source = open_move.source if open_move else workspace.region
        if open_move:
            self.stdout.write(
                f"Resuming {open_move.public_id} ({open_move.state}) of {workspace.slug}: "
                f"{source} → {to}."
            )
        else:
            self.stdout.write(f"Move {workspace.name} ({workspace.slug}): {source} → {to}.")
            self.stdout.write(
                "Ingestion answers 503 (Retry-After) and deliveries wait until the switch."
            )
        if not open_move or open_move.state == "copying":
            counts = data_plane_counts(workspace)
            for table in services.TABLE_NAMES:
                self.stdout.write(f"  {table:<36} {counts[table]:>10} rows")

    def _progress(self, table: str, copied: int, rate: float) -> None:
        self.stdout.write(f"  {table:<36} {copied:>10} rows copied  {rate:>10,.0f} rows/s")
