"""The job machinery, in one room: everything between "this should happen in the background"
and a worker running it, and what watches over that path.

The path of a job:
    service -> dispatch.dispatch_on_commit(task, *ids)      (outbox row in the caller's transaction)
            -> commit -> dispatch publishes to the broker, deletes the row
            -> worker -> task_base.LmsTask (queue recorded, failures reported) -> the app's service
    broker down at commit -> the row stays -> outbox.outbox_dispatch_pending (every minute) publishes it

Modules:
- dispatch:  the only way code enqueues; inline vs queued decided here; the outbox write/delete.
- outbox:    the sweep that publishes jobs whose after-commit publish did not happen.
- task_base: LmsTask, every task's base class; the database retry policy.
- results:   the result store: django-celery-results' database backend, one upsert per write.
- connections: workers keep database connections between jobs (Celery's Django fixup, one rule changed).
- beat:      the database scheduler behind a single-beat lock, and beat's heartbeat.
- leases:    a database lock with expiry (beat's lock when the broker is not Redis).
- health:    bounded probes of the database, broker, workers and beat (GET /api/health/).
- checks:    system checks lms.W001-W005 of the Celery setup.
- flower:    Flower's refusal to serve without credentials.
- alerts:    notify_admin, telling staff a job failed for good.
- logging:   the task id on every log line.

The models these use (OutboxMessage, Lease) live in `lms.models`; the Celery app is
`lms.celery.app`, so `celery -A lms ...` works. Nothing here imports an app's models at import
time, so every app may import from here.
"""
