"""A development checkout's own settings: ``var/dev.env``, written once by ``make run``.

It is what lets ``.venv/bin/tracklayer …`` and ``manage.py`` work in a fresh shell after
``make run`` (``TRACKLAYER_ENV=development``, a generated ``SECRET_KEY`` and key ring), while
production stays the default everywhere else. ``tracklayer.settings`` reads it before any
setting, and only:

- from this project's ``var/`` (never from the working directory or a parent of it);
- when the environment leaves ``TRACKLAYER_ENV`` unset or says ``development`` (test runs and
  deployments that say ``production`` never see it);
- for variables the environment does not set, even to an empty value: the environment wins;
- when the file belongs to the current user (or root) and no one else may write it, since
  whoever writes it chooses this process's settings.

A deployment has no ``var/dev.env`` (``make run`` is the only writer; ``make clean`` removes it),
so it runs in production unless told otherwise.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

# SECRET_KEY outside production when nothing sets one (the test suite, and development before
# var/dev.env existed). Public, so nothing it protects is secret.
INSECURE_SECRET_KEY = "insecure-development-key-" + "x" * 40
DEVELOPMENT = "development"


def load(path: Path, environ=os.environ) -> list[str]:
    """Set the file's variables the environment lacks; return their names (none: not read)."""
    if environ.get("TRACKLAYER_ENV", "").strip() not in ("", DEVELOPMENT):
        return []
    try:
        status = path.stat()
    except FileNotFoundError:
        return []
    if status.st_uid not in (os.getuid(), 0) or status.st_mode & 0o022:
        raise ImproperlyConfigured(
            f"{path} must belong to you and be writable by you only (chmod 600 {path})"
        )
    # No ${VAR} expansion: a value is exactly what the file says.
    values = dotenv_values(path, interpolate=False)
    if values.get("TRACKLAYER_ENV", DEVELOPMENT) != DEVELOPMENT:
        raise ImproperlyConfigured(
            f"{path} is for development only; it may not set TRACKLAYER_ENV="
            f"{values['TRACKLAYER_ENV']} (set that in the environment instead)"
        )
    added = [name for name, value in values.items() if name not in environ and value is not None]
    for name in added:
        environ[name] = values[name]
    return added
