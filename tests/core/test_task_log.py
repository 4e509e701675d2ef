"""One log line per task at the default verbosity; the task API's and Huey's own lines only at -v 2."""

import logging

import pytest
from django.conf import settings

from apps.core.tasks import worker_identity

pytestmark = pytest.mark.django_db

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def test_a_task_that_ran_logs_one_line_with_its_name_outcome_and_duration(caplog):
    from django.test import override_settings

    caplog.set_level(logging.DEBUG, logger="fedchain.tasks")
    with override_settings(TASKS=IMMEDIATE):
        result = worker_identity.enqueue()
    assert result.status == "SUCCESSFUL"
    lines = [r for r in caplog.records if r.name.startswith(("fedchain.tasks", "django.tasks", "huey"))]
    assert [r.name for r in lines] == ["fedchain.tasks"], [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert message.startswith("worker_identity successful in ") and " s (" in message and result.id in message


def test_the_default_verbosity_keeps_the_task_api_and_huey_at_warnings():
    assert settings.FEDCHAIN_LOG_VERBOSITY == 1
    assert logging.getLogger("django.tasks").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("huey").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("fedchain.tasks").getEffectiveLevel() == logging.INFO
    # Django's own console handler is gone: one copy of each message, through the root's.
    assert logging.getLogger("django").handlers[0].formatter._fmt.startswith("%(asctime)s")
    assert logging.getLogger("django").propagate is False
