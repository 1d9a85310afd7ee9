"""Create the demo user and project if they are missing; print the password only when created."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from detection import services
from detection.models import Project

DEMO_USERNAME = "demo"
DEMO_PROJECT = "Demo"


class Command(BaseCommand):
    help = "Create the demo user (a superuser) and the Demo project if they do not exist yet."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(DEMO_USERNAME, "demo@localhost", password)
            self.stdout.write(
                self.style.SUCCESS(
                    "\n  Demo user created. Log in at http://127.0.0.1:8000/ with\n"
                    f"    username: {DEMO_USERNAME}\n    password: {password}\n"
                    "  (shown once; change it with `python manage.py changepassword demo`)\n"
                )
            )
        else:
            self.stdout.write(
                f"Demo user '{DEMO_USERNAME}' exists (its password was shown when it was created)."
            )
        if not Project.objects.filter(name=DEMO_PROJECT, memberships__user=user).exists():
            services.project_create(owner=user, name=DEMO_PROJECT, description="A demo workspace.")
            self.stdout.write(f"Demo project '{DEMO_PROJECT}' created.")
