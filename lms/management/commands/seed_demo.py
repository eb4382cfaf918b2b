"""Create demo data for a newcomer's first run. Idempotent: running it again changes nothing."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from lms.users.models import User

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_LEARNER_EMAIL = "learner@example.com"


class Command(BaseCommand):
    help = "Create a demo staff user and a demo learner (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default="demo-password-2026",
            help="Password for the demo accounts when they are created (default: %(default)s).",
        )

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        admin, admin_created = User.objects.get_or_create(
            email=DEMO_ADMIN_EMAIL,
            defaults={"full_name": "Demo Admin", "is_staff": True, "is_superuser": True, "is_verified": True},
        )
        learner, learner_created = User.objects.get_or_create(
            email=DEMO_LEARNER_EMAIL, defaults={"full_name": "Demo Learner", "is_verified": True}
        )
        for user, created in ((admin, admin_created), (learner, learner_created)):
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
        created = admin_created + learner_created
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready ({created} account(s) created).")
            + f"\n  admin:   {DEMO_ADMIN_EMAIL} / {password if admin_created else '(unchanged)'}"
            + f"  -> {settings.FRONTEND_URL}/admin/"
            + f"\n  learner: {DEMO_LEARNER_EMAIL} / {password if learner_created else '(unchanged)'}"
            + f"\n  API docs: {settings.FRONTEND_URL}/api/docs/"
        )
