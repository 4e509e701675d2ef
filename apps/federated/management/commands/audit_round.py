"""Re-derives a round's global model from its recorded client updates and checks every hash against the chain.
Exit status 0 when the round checks out, 1 with the reasons when it does not."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.federated.flower import INITIAL_MODEL, NOT_REDERIVABLE
from apps.federated.models import Experiment
from apps.federated.selectors import round_audit
from apps.federated.services import round_audit_kept
from apps.ledger.models import Block
from apps.ledger.watch import chain_check_through


class Command(BaseCommand):
    help = "Audit one recorded round: re-derive its global model and check its hashes against the chain."

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="the experiment's id")
        parser.add_argument("round", help="the round number (0 is the initial model)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print the report as JSON")

    def handle(self, *args, experiment, round, as_json, **options):
        experiment_id, number = _whole_number(experiment, "EXPERIMENT"), _whole_number(round, "ROUND")
        found = Experiment.objects.filter(pk=experiment_id).first()
        if found is None:
            # Another node ran it: audited from the chain and the replicated blobs alone.
            if not Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment_id).exists():
                raise CommandError(f"there is no experiment {experiment_id} here or on the main chain")
            if not Block.objects.filter(status=Block.Status.MAIN, experiment_id=experiment_id, round_number=number).exists():
                raise CommandError(f"experiment {experiment_id} has no round {number} on the main chain")
            report = round_audit(experiment_id=experiment_id, number=number)
        elif not found.round_set.filter(number=number).exists():
            raise CommandError(f"experiment {experiment_id} has no recorded round {number}")
        else:
            report, _ = round_audit_kept(experiment=found, number=number, again=True)  # readers see it from now on
            if report is None:  # a page is computing it this moment
                report = round_audit(experiment=found, number=number)
        # What the round's block stands on: the chain from the genesis block up to it, checked by every rule.
        standing = None if report.block_height is None else chain_check_through(report.block_height)
        problems = list(report.problems)
        if standing is not None:
            where = "is" if standing.height == report.block_height else f"stands on block {standing.height}, which is"
            problems.insert(0, f"the round's block {report.block_height} {where} invalid: {standing}")
        ok = not problems
        if as_json:
            self.stdout.write(json.dumps({"experiment": experiment_id, "round": number, "ok": ok,
                                           "block_height": report.block_height, "rule": report.rule,
                                           "chain_invalid_at": None if standing is None else standing.as_dict(),
                                           "problems": problems}))
        elif ok and report.rule == NOT_REDERIVABLE:
            self.stdout.write(
                f"round {number} of experiment {experiment_id} is {NOT_REDERIVABLE}: every blob hash matches block "
                f"{report.block_height}; its strategy's aggregate is not recomputed"
            )
        elif ok and report.rule == INITIAL_MODEL:
            self.stdout.write(
                f"round {number} of experiment {experiment_id} checks out: it is {INITIAL_MODEL}, whose blob hashes to "
                f"what block {report.block_height} records, and blocks 0 to {report.block_height} are valid"
            )
        elif ok:
            how = f" ({report.rule})" if report.rule else ""
            self.stdout.write(
                f"round {number} of experiment {experiment_id} checks out: re-derived global model{how} and every "
                f"update hash match block {report.block_height}, and blocks 0 to {report.block_height} are valid"
            )
        else:
            self.stdout.write(f"round {number} of experiment {experiment_id} FAILS the audit:")
            for problem in problems:
                self.stdout.write(f"  - {problem}")
        if not ok:
            raise CommandError(f"round {number} of experiment {experiment_id} fails the audit")


def _whole_number(text, name):
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"{name} must be a whole number, not {text!r}") from None
    if value < 0:
        raise CommandError(f"{name} must not be negative")
    return value
