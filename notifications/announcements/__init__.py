"""Course announcements: one message from staff to every learner of a course.

- services:    create, edit, schedule, pause, resume, cancel; the fan-out that writes the
               recipient ledger in one statement and queues one chunk job per CHUNK_SIZE rows;
               the periodic tick that starts due announcements and re-kicks stalled ones.
- delivery:    one chunk job's work: one SMTP session, one rendering, each recipient marked sent
               right after the server accepted its message, the shared rate limit, pause checks.
- preferences: the learner's opt-out and the signed unsubscribe token.
- api, views:  the staff endpoints, the preferences endpoint and the unsubscribe page.
"""
