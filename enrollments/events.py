"""Enrollment events sent by the services once their change is in the transaction.

Receivers in other apps (e-mail, certificates) only enqueue, after commit. Completion carries
ids because the set-based recalculation completes many enrollments at once.
"""

from django.dispatch import Signal

# kwargs: enrollment (Enrollment) — a new enrollment, or a dropped one re-activated
enrollment_started = Signal()
# kwargs: enrollment_ids (list[str]) — enrollments that just reached 100 %
enrollments_completed = Signal()
