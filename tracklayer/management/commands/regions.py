"""``tracklayer regions status`` and ``tracklayer regions adopt-legacy [--yes]``.

``status`` lists the regions, their databases (host and name, never a password), how many
workspaces live in each and the moves still open. ``adopt-legacy`` moves the rows a control
database kept from before regions into each workspace's region, verifies them and drops the
legacy tables (docs/regions.md).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.models import Count

from destinations.residency import services
from tracklayer.exceptions import DomainError
from tracklayer.regions import REGIONS, alias_for
from workspaces.actors import SystemActor
from workspaces.models import RegionMove, Workspace
from workspaces.region_moves import OPEN_STATES

ACTOR = SystemActor("cli")


class Command(BaseCommand):
    help = "Regions: status (databases, workspaces, open moves) or adopt-legacy."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        verbs.add_parser("status", help="regions, their databases, workspaces and open moves")
        adopt = verbs.add_parser(
            "adopt-legacy", help="move the control database's legacy data-plane rows"
        )
        adopt.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        adopt.add_argument("--batch-size", type=int, default=services.BATCH_SIZE, metavar="ROWS")

    def handle(self, *args, verb: str, **options):
        try:
            if verb == "status":
                self.status()
            else:
                self.adopt_legacy(yes=options["yes"], batch_size=options["batch_size"])
        except DomainError as error:
            raise CommandError(error.message) from None

    def status(self) -> None:
        per_region = dict(
            Workspace.objects.values_list("region").annotate(n=Count("pk")).order_by()
        )
        for code, info in REGIONS.items():
            db = connections[alias_for(code)].settings_dict
            where = f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"
            self.stdout.write(
                f"{code}  {info.label:<16} {where:<48} {per_region.get(code, 0)} workspace(s)"
            )
        moves = RegionMove.objects.filter(state__in=OPEN_STATES).select_related("workspace")
        if not moves:
            self.stdout.write("No open moves.")
        for move in moves:
            self.stdout.write(
                f"open move {move.public_id}: {move.workspace.slug} {move.source} → "
                f"{move.target}, {move.state}, {len(move.tables)}/{len(services.TABLES)} "
                f"tables verified, since {move.created_at:%Y-%m-%d %H:%M:%S} UTC"
            )

    def adopt_legacy(self, *, yes: bool, batch_size: int) -> None:
        tables = services.legacy_tables()
        if not tables:
            self.stdout.write("The control database holds no legacy data-plane tables.")
            return
        counts = services.legacy_counts()
        slugs = dict(Workspace.objects.filter(pk__in=counts).values_list("pk", "slug"))
        regions = dict(Workspace.objects.filter(pk__in=counts).values_list("pk", "region"))
        self.stdout.write(f"Legacy tables in the control database: {', '.join(tables)}")
        for workspace_id, rows in sorted(counts.items()):
            name = slugs.get(workspace_id, f"(no workspace {workspace_id})")
            self.stdout.write(
                f"  {name} → {regions.get(workspace_id, '?')}: "
                + ", ".join(f"{table} {n}" for table, n in rows.items())
            )
        if not yes:
            answer = input("Type 'adopt' to copy, verify and then drop the legacy tables: ")
            if answer.strip() != "adopt":
                raise CommandError("Not confirmed; nothing was changed.")
        adopted = services.adopt_legacy(
            actor=ACTOR,
            batch_size=batch_size,
            progress=lambda table, copied, rate: self.stdout.write(
                f"  {table:<36} {copied:>10} rows copied  {rate:>10,.0f} rows/s"
            ),
        )
        for slug, figures in adopted.items():
            self.stdout.write(
                f"{slug}: "
                + ", ".join(
                    f"{table} {f['rows']} ({f['checksum']})" for table, f in figures.items()
                )
            )
        self.stdout.write(self.style.SUCCESS(f"Dropped the legacy tables: {', '.join(tables)}."))
