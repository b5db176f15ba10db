"""Settings for the test suite: the real settings with test-only switches.

DATABASE_URL still decides the database (PostgreSQL in CI, SQLite otherwise).
"""

import os

os.environ.setdefault("LOYALTY_TESTING", "1")

from loyalty.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests that need a real worker start one against CELERY_BROKER_URL themselves.
CELERY_TASK_ALWAYS_EAGER = False
# Tests run delivery themselves (or start a worker that does).
MESSAGES_DELIVER_ON_COMMIT = False
MESSAGES_ID_PREFIX = "loyalty"
MESSAGES_SMS_BACKEND = "messaging.backends.memory.MemoryBackend"
MESSAGES_PUSH_BACKEND = "messaging.backends.memory.MemoryBackend"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
