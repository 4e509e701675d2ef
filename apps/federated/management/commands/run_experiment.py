"""Runs a federated learning experiment to completion in the foreground: train, aggregate, record and mine each
round, with a progress bar on stderr and a summary (or JSON with --json) on stdout."""

import json
import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.federated.config import SETTING_NAMES, ExperimentConfig
from apps.federated.definitions import definition, definitions
from apps.federated.lifecycle import experiment_launch
from apps.federated.selectors import experiment_summary
from apps.federated.services import experiment_create, experiment_run

# (option, setting, help), from the settings' definitions (the form's labels and help come from there too).
# Values go to the validator as typed, so every setting is checked in one place with the same messages as the
# admin, the dashboard and the API.
def _when(definition):
    if not definition.applies_when:
        return ""
    return " (only with " + " and ".join(
        f"{name} {' or '.join(str(value).lower() for value in values)}" for name, values in definition.applies_when.items()
    ) + ")"


OPTIONS = [
    (f"--{d.name.replace('_', '-')}", d.name, d.help + _when(d))
    for d in definitions(SETTING_NAMES)
    if not isinstance(getattr(ExperimentConfig(), d.name), bool)
]
# Switches: on when given.
FLAGS = [(f"--{name}", name, definition(name).help) for name in ("dp", "rewards")]


class Command(BaseCommand):
    help = (
        "Run a federated learning experiment to the end in the foreground (training and mining), or with "
        "--background hand it to the worker processes and print its id."
    )

    def add_arguments(self, parser):
        defaults = ExperimentConfig()
        for option, setting, text in OPTIONS:
            default = getattr(defaults, setting)
            parser.add_argument(option, dest=setting, metavar=setting.upper(),
                                help=f"{text} (default: {default if default != () else 'none'})")
        for option, setting, text in FLAGS:
            parser.add_argument(option, dest=setting, action="store_true", help=text)
        parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                            help="skip the centralized baseline")
        parser.add_argument("--name", default="", help="a name to recognize the experiment by")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument(
            "--background", action="store_true",
            help="enqueue the experiment for the worker processes (`manage.py serve` or `run_huey`) and print its "
                 "id at once; follow it with `manage.py experiment status ID`",
        )

    def handle(self, *args, **options):
        settings = {setting: options[setting] for _, setting, _ in OPTIONS if options[setting] is not None}
        settings["baseline"] = options["baseline"]
        settings.update({setting: True for _, setting, _ in FLAGS if options[setting]})
        # In the background: created and started in one transaction, as the dashboard and the API do.
        create = experiment_launch if options["background"] else experiment_create
        try:
            experiment = create(name=options["name"], **settings)
        except ValidationError as error:
            lines = [f"  --{name.replace('_', '-')}: {' '.join(messages)}"
                     for name, messages in error.message_dict.items()]
            raise CommandError("invalid settings, nothing was created:\n" + "\n".join(lines)) from None
        if options["background"]:
            if options["json"]:
                self.stdout.write(json.dumps({"id": experiment.id, "status": experiment.status}))
            else:
                self.stdout.write(str(experiment.id))
            return

        progress = ProgressBar(self.stderr, total=experiment.config().rounds_to_run + 1)
        started = time.perf_counter()
        try:
            experiment_run(experiment=experiment, on_round=progress.update)
        except KeyboardInterrupt:
            raise CommandError(f"experiment {experiment.id} was interrupted and is marked cancelled") from None
        except Exception as error:
            # experiment_run recorded the failure with its reason; the completed rounds stay recorded.
            raise CommandError(f"experiment {experiment.id} failed: {error}") from None
        finally:
            progress.finish()
        summary = experiment_summary(experiment)
        summary["seconds"] = round(time.perf_counter() - started, 3)
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self.stdout.write(summary_text(summary))


def summary_text(summary):
    final = summary["rounds"][-1]
    lines = [
        f"experiment {summary['id']} {summary['status']} in {summary['seconds']:.1f} s: "
        f"{len(summary['rounds']) - 1} rounds",
        f"final test accuracy {summary['final_accuracy']:.4f}, loss {summary['final_loss']:.4f}",
    ]
    if final["baseline_accuracy"] is not None:
        lines.append(
            f"centralized baseline accuracy {final['baseline_accuracy']:.4f}, loss {final['baseline_loss']:.4f}"
        )
    if summary["final_epsilon"] is not None:
        lines.append(f"privacy spent: epsilon {summary['final_epsilon']:.4f} at delta {summary['settings']['dp_delta']:g}"
                     f" ({summary['settings']['dp_accountant']} accountant)"
                     + (f" (the budget stopped it after round {summary['rounds_to_run']})"
                        if summary["rounds_to_run"] < summary["settings"]["rounds"] else ""))
    if summary["malicious_clients"]:
        lines.append(f"malicious clients {summary['malicious_clients']} ({summary['settings']['attack']})")
    lines.append(f"chain height {summary['chain_height']}")
    return "\n".join(lines)


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal and printed per round otherwise."""

    WIDTH = 30

    def __init__(self, stream, *, total):
        self.stream = stream
        self.total = total
        self.done = 0
        self.interactive = hasattr(stream, "isatty") and stream.isatty()

    def update(self, round_row, block):
        self.done += 1
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        mined = f"block {block.height}" if block is not None else "not mined"
        line = (
            f"[{bar}] round {round_row.number}/{self.total - 1}  "
            f"loss {round_row.test_loss:.4f}  accuracy {round_row.test_accuracy:.4f}  {mined}"
        )
        if self.interactive:
            self.stream.write("\r" + line, ending="")
            self.stream.flush()
        else:
            self.stream.write(line)

    def finish(self):
        if self.interactive and self.done:
            self.stream.write("")
