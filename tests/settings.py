"""Settings for the test suite: the real settings, in the ``test`` environment, with a Redis
database of its own so a test run never touches the data of ``make run``."""

import os

os.environ["TRACKLAYER_ENV"] = "test"

from tracklayer.settings import *  # noqa: F403

CACHES["default"]["LOCATION"] = os.environ.get(  # noqa: F405
    "TEST_REDIS_URL",
    REDIS_URL.rsplit("/", 1)[0] + "/15",  # noqa: F405
)
CACHES["default"]["KEY_PREFIX"] = "tl-test"  # noqa: F405
# The Celery broker of a test run: its own Redis database, four below the cache's (15 → 11,
# 14 → 10), so concurrent runs and `make run` never share a queue.
_cache_db = int(CACHES["default"]["LOCATION"].rsplit("/", 1)[1])  # noqa: F405
CELERY_BROKER_URL = os.environ.get(
    "TEST_CELERY_BROKER_URL",
    CACHES["default"]["LOCATION"].rsplit("/", 1)[0] + f"/{_cache_db - 4}",  # noqa: F405
)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
API_KEY_BCRYPT_ROUNDS = 4
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
# Tests write events in the request's own transaction; tests of group commit turn it on.
EVENTS_GROUP_COMMIT = False
# No Celery tasks from tests, unless a delivery test runs a real worker and turns them on.
DELIVERY_KICK = env_bool("DELIVERY_KICK", False)  # noqa: F405
