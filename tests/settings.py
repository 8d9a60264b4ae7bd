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
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
API_KEY_BCRYPT_ROUNDS = 4
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
# Tests write events in the request's own transaction; tests of group commit turn it on.
EVENTS_GROUP_COMMIT = False
