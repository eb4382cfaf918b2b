"""Settings for every process (web, worker, beat, flower, commands).

Every value that differs between deployments is read from the environment (or a .env file, see
ENV_FILE) here and nowhere else. The defaults make the app run on a fresh checkout with no
services: a SQLite file, tasks run in-process after commit, e-mail written to files under
var/mail/. Production hardening lives in lms/settings_production.py, which imports this module.
"""

import os
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import environ
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file in the project root is read when present (LMS_ENV_FILE names another; empty: none,
# as scripts/test sets it). The environment wins: read_env only sets variables not already set.
ENV_FILE = os.environ.get("LMS_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)

# --- Core -----------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# Development fallback only: the "django-insecure-" prefix makes `check --deploy` flag it and
# settings_production refuses to start with it.
INSECURE_DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "axes",
    "lms.apps.LmsConfig",
    "lms.users",
    "courses",
    "enrollments",
    "certificates",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lms.urls"
WSGI_APPLICATION = "lms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A kept connection is checked (SELECT 1) before its first query of each request or job, and
# replaced if it died while idle (server restarted, backend terminated).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Worker processes keep their connections across jobs (lms/jobs/connections.py): a new
# PostgreSQL connection per job was a third of a short job's cost.
DB_WORKER_CONN_MAX_AGE = env.int("DB_WORKER_CONN_MAX_AGE", default=600)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A request or task never waits on the database forever.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5)})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache holds throttle counters and the health answer, so every web process must
# share it: CACHE_URL when set; otherwise the Redis of REDIS_URL / CELERY_BROKER_URL, under its
# own key prefix (lms/cache.py); a per-process memory cache only when there is no Redis at all.
_CACHE_REDIS_URL = next(
    (
        url
        for url in (env("REDIS_URL", default=""), env("CELERY_BROKER_URL", default=""))
        if url.startswith(("redis://", "rediss://"))
    ),
    "",
)
if env("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif _CACHE_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "lms.cache.SharedRedisCache",
            "LOCATION": _CACHE_REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="lms-cache"),
            # A request never waits long on the cache (it fails open: lms/cache.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------------

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Logins (admin and POST /api/auth/token/) go through django-axes first: after
# LOGIN_FAILURE_LIMIT wrong passwords for one account from one client address, that pair is
# locked out for LOGIN_LOCKOUT_MINUTES (admin: a 429 page; API: 401 as for any wrong password).
# Locking the pair, not the account, keeps anyone from locking a person out from elsewhere.
# Staff unlock in admin (Axes > Access attempts: delete the row) or with
# `manage.py axes_reset_username <email>`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The admin form posts "username", the token endpoint "email": one name for both doors.
AXES_USERNAME_CALLABLE = "lms.users.selectors.login_attempt_username"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login; failures are still recorded
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60)
# Reset e-mails one account receives per hour at most, however many clients ask for them.
PASSWORD_RESET_EMAILS_PER_HOUR = env.int("PASSWORD_RESET_EMAILS_PER_HOUR", default=3)
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 24 * 60 * 60)

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Domain -------------------------------------------------------------------------------

# Lesson progress of enrollments dropped longer ago than this is deleted by a nightly sweep.
STALE_PROGRESS_DAYS = env.int("STALE_PROGRESS_DAYS", default=90)
# Seconds the certificate e-mail's sign-in-free PDF link works (signed, django.core.signing).
CERTIFICATE_LINK_MAX_AGE = env.int("CERTIFICATE_LINK_MAX_AGE", default=30 * 24 * 60 * 60)
# Certificates one `generate_certificates` job issues when many enrollments complete at once: one
# message, one result row and one commit for this many PDFs (certificates.signals).
CERTIFICATES_PER_JOB = env.int("CERTIFICATES_PER_JOB", default=25)

# --- Static and media -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the apps when nothing was collected (development, tests,
# the Procfile); production collects them and turns this off.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# --- E-mail ---------------------------------------------------------------------------------

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env.path("EMAIL_FILE_PATH", default=VAR_DIR / "mail")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Every SMTP call is bounded so a stuck server cannot hold a worker past its time limit.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="LMS <no-reply@lms.local>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# "Name <email>" pairs, comma separated; they receive notify_admin alerts.
ADMINS = [parseaddr(address) for address in env.list("ADMINS", default=[])]

# Course announcements: messages per second across every bulk worker together (a provider's
# sending limit; 0 = unlimited), and how long a sending announcement may go without a chunk job
# reporting progress before the tick queues its remaining chunks again (lost worker or job).
BULK_EMAIL_RATE = env.float("BULK_EMAIL_RATE", default=0)
ANNOUNCEMENT_STALL_SECONDS = env.int("ANNOUNCEMENT_STALL_SECONDS", default=120)
# Recipients per chunk job (one SMTP session each); see notifications/announcements/services.py.
ANNOUNCEMENT_CHUNK_SIZE = env.int("ANNOUNCEMENT_CHUNK_SIZE", default=500)

# Links in e-mails and certificates point here. Defaults to this app's own base URL.
FRONTEND_URL = env("FRONTEND_URL", default="http://localhost:8000").rstrip("/")

# --- REST API -------------------------------------------------------------------------------

AUTH_THROTTLE_RATE = env("AUTH_THROTTLE_RATE", default="10/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["lms.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "lms.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "DEFAULT_SCHEMA_CLASS": "lms.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "lms.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": AUTH_THROTTLE_RATE,
        "certificate_verify": env("CERTIFICATE_VERIFY_THROTTLE_RATE", default="60/min"),
    },
    # Throttle by the socket address unless the deployment says how many proxies to trust;
    # trusting X-Forwarded-For blindly would let a client pick its own throttle key.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LMS API",
    "DESCRIPTION": "Learning platform REST API: accounts, courses, enrollments, certificates.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets come from the app itself, so the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------
# Read by lms/celery.py through the CELERY_ namespace; names checked against Celery's
# configuration reference.

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=env("REDIS_URL", default=""))
# Without a broker every task runs in-process after commit, so development needs no Redis.
TASKS_FORCE_INLINE = env.bool("TASKS_FORCE_INLINE", default=not CELERY_BROKER_URL)
if not CELERY_BROKER_URL:
    # Celery needs some transport even when nothing is ever published.
    CELERY_BROKER_URL = "memory://"

CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
# Default limits; long tasks set their own. Every task has both.
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
# The longest time limit or retry countdown any task uses; the Redis visibility timeout must
# exceed it, or Redis hands a still-running (or still-waiting) job to a second worker.
TASK_MAX_DELAY_SECONDS = 15 * 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=30 * 60),
    # Redis: never wait long to connect (an unreachable host must not hang a request).
    "socket_connect_timeout": env.float("CELERY_BROKER_SOCKET_CONNECT_TIMEOUT", default=1.0),
    # Redis: how often a worker looks for jobs a dead worker left unacknowledged (older than the
    # visibility timeout) and puts them back. Kombu scans every interval x throttle seconds
    # (100 s by default); scanning at every interval bounds recovery to visibility + 10 s.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
}
# The stuck-job sweep (lms/jobs/stuck.py) heals a STARTED job this long after its hard time
# limit. By default the visibility timeout: Redis's own redelivery (same id) always comes first.
STUCK_JOB_MARGIN_SECONDS = env.int(
    "STUCK_JOB_MARGIN_SECONDS", default=CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
)

# django-celery-results' database backend, each write one upsert (lms/jobs/result_store.py).
CELERY_RESULT_BACKEND = "lms.jobs.result_store:ResultBackend"
# Result rows commit without waiting for the WAL flush (lms/jobs/result_store.py says what a server
# crash can cost); false makes them durable at commit like every other write.
RESULT_STORE_ASYNC_COMMIT = env.bool("RESULT_STORE_ASYNC_COMMIT", default=True)
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 3600
# STARTED is written for jobs whose progress someone reads: every task by default (long jobs:
# certificates, reports, archive, recalculations, fan-outs; the stuck-job sweep looks for their
# STARTED rows). Short jobs opt out with track_started=False (the e-mail tasks: a STARTED write
# was half of their result-store cost and nobody watches a 10 ms job start).
CELERY_TASK_TRACK_STARTED = True
# A result write that hits a dropped database connection reconnects and retries (bounded)
# instead of failing the job's bookkeeping.
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 10
# Inline runs record their result too, so /api/tasks/<id>/ works without a broker.
CELERY_TASK_STORE_EAGER_RESULT = True

CELERY_TASK_DEFAULT_QUEUE = "default"
# Each queue is bound by its own name: a message for one queue can never fan out to the others
# (unset, Celery binds them all to the default exchange with the same routing key).
CELERY_TASK_QUEUES = tuple(
    Queue(name, routing_key=name) for name in ("default", "emails", "certificates", "progress", "bulk")
)
# A route to an undeclared queue is an error, not a silently created queue nobody consumes.
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_ROUTES = {
    "notifications.tasks.send_welcome_email": {"queue": "emails"},
    "notifications.tasks.send_verification_email": {"queue": "emails"},
    "notifications.tasks.send_password_reset_email": {"queue": "emails"},
    "notifications.tasks.send_enrollment_confirmation": {"queue": "emails"},
    "notifications.tasks.send_notification": {"queue": "emails"},
    # Announcements on their own queue and worker: account e-mails never wait behind them.
    "notifications.tasks.fan_out_announcement": {"queue": "bulk"},
    "notifications.tasks.deliver_announcement_chunk": {"queue": "bulk"},
    "notifications.tasks.announcements_tick": {"queue": "default"},
    "certificates.tasks.generate_certificate": {"queue": "certificates"},
    "certificates.tasks.generate_certificates": {"queue": "certificates"},
    "certificates.tasks.revoke_certificate": {"queue": "certificates"},
    "certificates.tasks.issue_course_certificates": {"queue": "certificates"},
    "enrollments.tasks.recalculate_course_progress": {"queue": "progress"},
    "enrollments.tasks.recalculate_all_progress": {"queue": "progress"},
    "enrollments.tasks.cleanup_stale_progress": {"queue": "progress"},
    "enrollments.tasks.generate_hourly_analytics": {"queue": "progress"},
    "enrollments.tasks.generate_daily_analytics": {"queue": "progress"},
    "enrollments.tasks.generate_weekly_report": {"queue": "default"},
    "enrollments.tasks.monthly_archive": {"queue": "default"},
    "lms.users.tasks.cleanup_expired_tokens": {"queue": "default"},
    "lms.users.tasks.cleanup_unverified_users": {"queue": "default"},
    "lms.tasks.dispatch_outbox": {"queue": "default"},
    "lms.tasks.sweep_stuck_jobs": {"queue": "default"},
}

# django-celery-beat's DatabaseScheduler, scheduling only while it holds the single-beat lock.
CELERY_BEAT_SCHEDULER = "lms.jobs.beat:LockedDatabaseScheduler"
# Schedules live in the database (admin-editable); nothing is defined in code.
CELERY_BEAT_SCHEDULE = {}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing never holds a request long when the broker is down: one quick retry, then the job
# waits in the outbox (lms/jobs/dispatch.py) for the sweep.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
# A pool process that dies mid-task (OOM kill, segfault) sends the job through the task's
# normal, bounded retries instead of an endless requeue (LmsTask.default_retry_delay later).
CELERY_TASK_RETRY_ON_WORKER_LOST = True
# If the broker connection drops, stop the running jobs: their messages are redelivered anyway,
# and finishing them too would run them twice.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# No "task-sent" event per publish: it doubled the broker messages on the request path (measured:
# 0.85 -> 0.55 ms per publish). Flower follows a job from the moment a worker receives it.
CELERY_TASK_SEND_SENT_EVENT = False

# --- Operations: beat, Flower, maintenance --------------------------------------------------

# Beat writes last_run_at after every task it sends, so a standby beat that takes the lock
# over starts from what was really sent, not from a copy up to 3 minutes old.
CELERY_BEAT_SYNC_EVERY = 1
# Beat wakes at least this often, and each time checks whether an admin edited a schedule: an
# edit (time, enabled, a crontab changed in place) reaches the running beat within this many
# seconds plus one tick (one cheap query of django-celery-beat's change marker each time).
CELERY_BEAT_MAX_LOOP_INTERVAL = env.float("CELERY_BEAT_MAX_LOOP_INTERVAL", default=2.0)
# Seconds the single-beat lock outlives a beat that died without releasing it.
BEAT_LOCK_TIMEOUT = env.int("BEAT_LOCK_TIMEOUT", default=60)
# Accounts still unverified this many days after joining are deleted by cleanup_unverified_users.
UNVERIFIED_USER_MAX_DAYS = env.int("UNVERIFIED_USER_MAX_DAYS", default=7)
# Notifications and task results older than this many days (at the end of a month) are written
# to archive/<YYYY-MM>/ in storage and deleted by the monthly archive (lms/archive.py).
ARCHIVE_RETENTION_DAYS = env.int("ARCHIVE_RETENTION_DAYS", default=90)
# "user:password[,user:password]". Flower reads it itself; lms/jobs/flower.py refuses to start
# without it unless DEBUG, and the lms.W005 deploy check reports it missing.
FLOWER_BASIC_AUTH = env("FLOWER_BASIC_AUTH", default="")
# Where staff open Flower; linked from the queues page (/admin/jobs/). Empty: no link.
FLOWER_URL = env("FLOWER_URL", default="http://localhost:5555")

# --- Logging --------------------------------------------------------------------------------

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_id": {"()": "lms.jobs.logging.TaskIdFilter"}},
    "formatters": {
        "standard": {
            "format": "%(asctime)s %(levelname)s %(name)s [task:%(task_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "standard",
            "filters": ["task_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
