"""Controls an experiment that runs in the worker processes: start, pause, resume, cancel, or show its status."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.federated.lifecycle import (
    LifecycleError,
    experiment_cancel,
    experiment_pause,
    experiment_progress,
    experiment_resume,
    experiment_start,
)
from apps.federated.models import Experiment

ACTIONS = {
    "start": experiment_start,
    "pause": experiment_pause,
    "resume": experiment_resume,
    "cancel": experiment_cancel,
}


class Command(BaseCommand):
    help = (
        "Control an experiment run by the worker processes. start: a queued experiment begins (as "
        "`run_experiment --background` does for a new one); pause: no new training starts until resume; "
        "resume: a paused experiment goes on; cancel: it stops for good (rounds already recorded still go on the "
        "chain); status: where it is."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=[*ACTIONS, "status"])
        parser.add_argument("experiment_id", type=int, metavar="ID")
        parser.add_argument("--json", action="store_true", help="print the status as JSON")

    def handle(self, *args, action, experiment_id, **options):
        experiment = Experiment.objects.filter(pk=experiment_id).first()
        if experiment is None:
            raise CommandError(f"there is no experiment {experiment_id}")
        if action != "status":
            try:
                experiment = ACTIONS[action](experiment=experiment)
            except LifecycleError as error:
                raise CommandError(str(error)) from None
        progress = experiment_progress(experiment)
        self.stdout.write(json.dumps(progress) if options["json"] else progress_text(progress))


def progress_text(progress):
    def said(number):
        return "none" if number is None else f"round {number}"

    line = (
        f"experiment {progress['experiment']} {progress['status']}: {progress['rounds']} rounds, "
        f"recorded up to {said(progress['recorded'])}, on the chain up to {said(progress['mined'])}"
    )
    training = progress["training"]
    if training is not None:
        line += (
            f"; round {training['round']} training, {training['clients_done']} of "
            f"{training['clients_sampled']} clients done"
        )
    if progress["error"]:
        line += f"\nreason: {progress['error']}"
    return line
