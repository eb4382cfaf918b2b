"""Flower's configuration: `celery -A lms flower` executes this file from the working directory.

Flower reads its options from FLOWER_* environment variables first (FLOWER_BASIC_AUTH,
FLOWER_PORT, ...), then from this file, then from the command line, each overriding the one
before. This file adds what Flower does not do by itself:
- outside DEBUG it refuses to start without basic-auth credentials (FLOWER_BASIC_AUTH);
- it listens on 127.0.0.1 unless FLOWER_ADDRESS or --address says otherwise (Flower's own
  default is every interface).
Only option names may be assigned at module level here: Flower applies every one it finds.
"""

import os

from django.conf import settings
from tornado.options import options

from lms.jobs.flower import flower_refuse_unprotected

flower_refuse_unprotected(credentials=options.basic_auth, debug=settings.DEBUG)

address = os.environ.get("FLOWER_ADDRESS", "127.0.0.1")
