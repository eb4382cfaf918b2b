"""gunicorn's settings for the `web` process, read from the working directory.

Anything here can be overridden per deployment with GUNICORN_CMD_ARGS (docker-compose.yml binds
every interface that way) or WEB_CONCURRENCY (worker processes).
"""

import os

# Loopback by default, and explicitly: honcho exports PORT, which would make gunicorn's own
# default every interface.
bind = ["127.0.0.1:8000"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests do no slow work (that is what the workers are for); a stuck one is killed.
timeout = 30
accesslog = "-"
