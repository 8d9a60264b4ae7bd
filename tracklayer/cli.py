"""The ``tracklayer`` command: the project's management commands under friendlier names.

    tracklayer seed-demo --json
    tracklayer create-api-key --workspace acme --name "Storefront"
    tracklayer audit verify --workspace acme        (command groups: ``tracklayer GROUP VERB``)
    tracklayer evidence verify PACKAGE.zip --vkey VKEY   (offline, like ``audit verify-export``)

A dash in a command name stands for an underscore; ``tracklayer GROUP VERB …`` runs the
management command ``GROUP`` with ``VERB`` as its first argument. Any other management
command runs as it is (``tracklayer migrate``).
"""

import os
import sys


def translate(argv: list[str]) -> list[str]:
    if not argv:
        return ["help"]
    return [argv[0].replace("-", "_"), *argv[1:]]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["audit", "verify-export"]:
        # The offline verifier needs no database and no settings: run it as it is.
        from audit import offline

        sys.exit(offline.main(argv[2:]))
    if argv[:2] == ["evidence", "verify"]:
        # The auditor package's verifier, likewise: no database, no settings.
        from compliance.package import offline as package_offline

        sys.exit(package_offline.main(argv[2:]))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracklayer.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    args = translate(argv)
    try:
        execute_from_command_line(["tracklayer", *args])
    except ImproperlyConfigured as error:
        # A missing or wrong setting is the operator's to fix, not a crash to debug.
        hint = ""
        if not os.environ.get("TRACKLAYER_ENV"):
            # Production by default; a development checkout gets var/dev.env from `make run`.
            hint = (
                "\n(TRACKLAYER_ENV is unset, so this is production. In a development checkout, "
                "`make run` once writes var/dev.env and the command runs in development.)"
            )
        sys.exit(f"tracklayer: configuration error: {error}{hint}")
    except BrokenPipeError:
        # The reader went away (`tracklayer audit verify | head -2`): stop quietly, as Unix
        # tools do, and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
