"""Workspace operations for staff (docs/regions.md, docs/workspace-lifecycle.md).

``tracklayer workspace move-region --workspace SLUG --to eu [--yes] [--batch-size N]`` moves a
workspace's data plane to another region: copy in batches, verify counts and checksums per
table, switch, delete the source's copy. Run again after a crash, it resumes the open move
(``--to`` must name that move's target).

``tracklayer workspace restore --workspace SLUG [--yes]`` undoes a deletion before the purge.

``tracklayer workspace purge --workspace SLUG --now [--force] [--yes] [--batch-size N]`` purges
a deleted workspace now instead of waiting for the daily run; before its ``purge_after`` only
with ``--force``. Run again after a crash, it resumes.

Without ``--yes`` each shows what will happen and asks for the slug.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from destinations.residency import services
from destinations.teardown import purge
from tracklayer.exceptions import DomainError
from tracklayer.regions import REGIONS
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.region_moves import data_plane_counts

ACTOR = SystemActor("cli")


class Command(BaseCommand):
    help = (
        "Workspace operations: move-region (move a workspace's data to another region), "
        "restore (undo a deletion), purge (purge a deleted workspace now)."
    )

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        move = verbs.add_parser("move-region", help="move the workspace's data plane")
        move.add_argument("--workspace", required=True, metavar="SLUG")
        move.add_argument("--to", required=True, metavar="REGION", help=", ".join(REGIONS))
        move.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        move.add_argument("--batch-size", type=int, default=services.BATCH_SIZE, metavar="ROWS")
        restore = verbs.add_parser("restore", help="undo a workspace's deletion (before purge)")
        restore.add_argument("--workspace", required=True, metavar="SLUG")
        restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        wipe = verbs.add_parser("purge", help="purge a deleted workspace now")
        wipe.add_argument("--workspace", required=True, metavar="SLUG")
        wipe.add_argument(
            "--now", action="store_true", required=True, help="purge now (the daily run's work)"
        )
        wipe.add_argument(
            "--force", action="store_true", help="purge even before its purge_after date"
        )
        wipe.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        wipe.add_argument("--batch-size", type=int, default=purge.BATCH_ROWS, metavar="ROWS")

    def handle(self, *args, verb: str, **options):
        slug = options.pop("workspace")
        workspaces = (
            Workspace.objects.all() if verb != "move-region" else Workspace.objects.active()
        )
        workspace = workspaces.filter(slug=slug).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {slug!r}.")
        if options.get("batch_size", 1) < 1:
            raise CommandError("--batch-size must be at least 1.")
        action = {
            "move-region": self.move_region,
            "restore": self.restore,
            "purge": self.purge,
        }[verb]
        try:
            action(workspace, **options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def _confirm(self, workspace, yes: bool) -> None:
        if yes:
            return
        answer = input(f"Type the workspace's slug ({workspace.slug}) to go on: ")
        if answer.strip() != workspace.slug:
            raise CommandError("Not confirmed; nothing was changed.")

    def restore(self, workspace, *, yes: bool, **_):
        if workspace.deleted_at is None:
            raise CommandError(f"{workspace.slug} is not deleted.")
        if not yes:
            self.stdout.write(
                f"Restore {workspace.name} ({workspace.slug}), deleted on "
                f"{workspace.deleted_at:%Y-%m-%d %H:%M} UTC: members, API keys, SCIM, SAML and "
                "destinations work again."
            )
        self._confirm(workspace, yes)
        workspace_services.workspace_restore(workspace=workspace, actor=ACTOR)
        self.stdout.write(self.style.SUCCESS(f"{workspace.slug} restored."))

    def purge(self, workspace, *, force: bool, yes: bool, batch_size: int, **_):
        refusal = purge.purge_refusal(workspace, now=timezone.now(), force=force)
        if refusal:
            raise CommandError(refusal)
        if not yes:
            self.stdout.write(
                f"Purge {workspace.name} ({workspace.slug}) now: its events, deliveries, "
                "settings, members and keys are deleted for good; the audit log stays."
            )
        self._confirm(workspace, yes)
        slug = workspace.slug
        payload = purge.workspace_purge(
            workspace=workspace,
            actor=ACTOR,
            force=force,
            batch_size=batch_size,
            progress=self._purge_progress,
        )
        self.stdout.write(self.style.SUCCESS(f"{slug} purged ({workspace.public_id})."))
        for region, tables in payload["data_plane"].items():
            for table, rows in tables.items():
                self.stdout.write(f"  {region}  {table:<36} {rows:>10} rows")
        for label, rows in payload["control_plane"].items():
            self.stdout.write(f"  control  {label:<36} {rows:>7} rows")

    def _purge_progress(self, region: str, table: str, deleted: int) -> None:
        self.stdout.write(f"  {region}  {table:<36} {deleted:>10} rows deleted")

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
        self._confirm(workspace, yes)
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
