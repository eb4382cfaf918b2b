"""The job machinery, in one room: everything between "this should happen in the background"
and a worker running it, and what watches over that path.

The path of a job:
    service -> dispatch.dispatch_on_commit(task, *ids)      (outbox row in the caller's transaction)
            -> commit -> dispatch publishes to the broker, deletes the row
            -> worker -> task_base.LmsTask (queue recorded, failures reported) -> the app's service
    broker down at commit -> the row stays -> outbox.outbox_dispatch_pending (every minute) publishes it
    fan-outs: dispatch.dispatch_many_on_commit(task, [(id,), ...]) -> the same path, per batch: one
            outbox INSERT, one pipelined publish on one connection, one DELETE

Modules:
- dispatch:  the only way code enqueues; inline vs queued decided here; the outbox write/delete.
- outbox:    the sweep that publishes jobs whose after-commit publish did not happen.
- task_base: LmsTask, every task's base class; the database retry policy.
- result_store: the result backend: django-celery-results' database backend, one upsert per write.
- connections: workers keep database connections between jobs (Celery's Django fixup, one rule changed).
- beat:      the database scheduler behind a single-beat lock, and beat's heartbeat.
- leases:    a database lock with expiry (beat's lock when the broker is not Redis).
- heartbeat: each worker's liveness key in Redis, set from its own timer (read by health).
- health:    bounded probes of the database, broker, workers and beat (GET /api/health/).
- checks:    system checks lms.W001-W005 of the Celery setup.
- flower:    Flower's refusal to serve without credentials.
- ratelimit: a sending rate shared by every worker process (a Lua schedule in Redis).
- alerts:    notify_admin, telling staff a job failed for good.
- logging:   the task id on every log line.
- results:   reading and annotating result-store rows (stored arguments, meta).
- rerun:     re-running a failed job under a new id (API retry, admin action, rerun_failed).
- stuck:     the sweep healing jobs a dead worker left STARTED (re-queued, old row marked).
- progress:  job_progress(done=, total=): a long job's throttled {done, total} in its result row.
- singleton: one job queued per key, freed as it starts (a course's progress recalculation).
- stamps:    the publish-time header every message carries.
- queues:    what the queues page /admin/jobs/ shows (queues, workers, outbox, last hour).

The models these use (OutboxMessage, Lease, QueuedSingleton) live in `lms.models`; the Celery app is
`lms.celery.app`, so `celery -A lms ...` works. Nothing here imports an app's models at import
time, so every app may import from here.
"""
