"""``tracklayer audit verify|checkpoint|vkey --workspace SLUG`` (``--merchant SLUG`` too; the
workspace's public id, the API's ``merchant_id``, in place of the slug).

``verify`` exits 0 when the log is valid and 1 when it is broken (for cron jobs and CI);
``--json`` prints the same document as ``GET /v1/audit/verify``.
"""

import argparse
import json
import shlex
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit import export, offline, selectors, services
from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import Workspace

ACTOR = SystemActor("cli")


class Command(BaseCommand):
    help = "Verify a workspace's audit log, sign a checkpoint, or print its verifier key."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        verify = verbs.add_parser("verify", help="recompute and check the whole log")
        verify.add_argument("--json", action="store_true", help="print the report as JSON")
        verbs.add_parser("checkpoint", help="sign a checkpoint now (if the log grew)")
        verbs.add_parser("vkey", help="print the verifier key")
        verbs.add_parser("rotate-key", help="retire the checkpoint key and start a new one")
        verbs.add_parser("lock", help="enable the advisory lock; prints its key once")
        unlock = verbs.add_parser("unlock", help="lift the advisory lock with its key")
        unlock.add_argument("--key", required=True)
        export = verbs.add_parser("export", help="write the whole log to a .json.gz file")
        export.add_argument("--out", required=True, metavar="FILE")
        for sub in verbs.choices.values():
            # --merchant: the same, under the name the seed's callers use
            sub.add_argument(
                "--workspace",
                "--merchant",
                dest="workspace",
                required=True,
                metavar="SLUG",
                help="the workspace's slug or public id, ws_… (--merchant is another name "
                "for it: the merchant_id that GET /v1/audit/verify answers is accepted)",
            )
        offline = verbs.add_parser(
            "verify-export", help="verify an export offline (no database needed)"
        )
        offline.add_argument("args", nargs=argparse.REMAINDER)

    def handle(self, *args, verb: str, workspace: str = "", **options):
        if verb == "verify-export":
            code = offline.main(options["args"])
            if code:
                raise CommandError("the export does not verify", returncode=code)
            return
        # the slug, or the public id (``ws_…``) that /v1/audit/verify answers as merchant_id
        ws = (
            Workspace.objects.filter(slug=workspace).first()
            or Workspace.objects.filter(public_id=workspace).first()
        )
        if ws is None:
            raise CommandError(f"No workspace with slug or id {workspace!r}.")
        try:
            getattr(self, f"do_{verb.replace('-', '_')}")(ws, **options)
        except DomainError as error:
            raise CommandError(error.message) from None

    def do_verify(self, workspace, *, json: bool = False, **_):
        result = services.audit_verify_record(workspace=workspace, actor=ACTOR)
        if json:
            self.stdout.write(_dumps(result))
        else:
            self._print_verify(workspace, result)
        if result["chain_status"] != "valid":
            raise CommandError("the audit log is broken", returncode=1)

    def _print_verify(self, workspace, result: dict) -> None:
        valid = result["chain_status"] == "valid"
        style = self.style.SUCCESS if valid else self.style.ERROR
        self.stdout.write(style(f"{result['chain_status'].upper()}: {result['workspace_id']}"))
        coverage = selectors.audit_verify_coverage(workspace=workspace, result=result)
        self.stdout.write(
            f"  entries          {coverage['verified']} verified · {coverage['newer']} newer"
        )
        self.stdout.write(f"  root             {result['root']}")
        checkpoint = result["checkpoint"]
        if checkpoint:
            self.stdout.write(
                f"  checkpoint       size {checkpoint['size']}, signature "
                f"{'valid' if checkpoint['signature_valid'] else 'INVALID'}, "
                f"{'consistent' if checkpoint['consistent'] else 'INCONSISTENT'}"
            )
        else:
            self.stdout.write("  checkpoint       none signed yet")
        for item in result["broken_events"]:
            where = f"idx {item['idx']}" if item["idx"] is not None else "log"
            self.stdout.write(self.style.ERROR(f"  {where}: {item['reason']} {item['detail']}"))

    def do_checkpoint(self, workspace, **_):
        checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
        if checkpoint is None:
            raise CommandError("The log is empty; there is nothing to sign.")
        self.stdout.write(checkpoint.note, ending="")

    def do_export(self, workspace, *, out: str, **_):
        document = export.audit_export_to_file(workspace=workspace, actor=ACTOR, path=Path(out))
        self.stdout.write(
            f"Wrote {len(document['events'])} entries and {len(document['checkpoints'])} "
            f"checkpoints to {out}. Verify it offline with:\n"
            f"  tracklayer audit verify-export {shlex.quote(out)} "
            # Every key the log was ever signed with: checkpoints from before a rotation too.
            + " ".join(f"--vkey {shlex.quote(vkey)}" for vkey in document["verifier_keys"])
        )

    def do_rotate_key(self, workspace, **_):
        key = services.audit_signing_key_rotate(workspace=workspace, actor=ACTOR)
        self.stdout.write("New verifier key (keep the old one to verify older checkpoints):")
        self.stdout.write(key.verifier_key)

    def do_lock(self, workspace, **_):
        key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
        self.stdout.write(
            "Advisory lock enabled: nothing can be appended to this log without the key.\n"
            "Store the key now; it is not shown again and only it lifts the lock:"
        )
        self.stdout.write(key)

    def do_unlock(self, workspace, *, key: str, **_):
        services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=key)
        self.stdout.write("Advisory lock lifted.")

    def do_vkey(self, workspace, **_):
        key = selectors.audit_verifier_key(workspace=workspace)
        if key is None:
            key = services.audit_signing_key_ensure(workspace=workspace, actor=ACTOR).verifier_key
        self.stdout.write(key)


def _dumps(value) -> str:
    return json.dumps(value, indent=2)
