"""Tasks of the experiment lifecycle (apps.federated.lifecycle). Each takes a job id: the job's row says what to
do and whether it is still wanted, so a task run twice, late, or after a crash does no harm."""

from django.tasks import task

from . import lifecycle


@task
def train_client(job_id):
    """Trains a batch of a round's clients (the task kept its path from when a job trained one client)."""
    return lifecycle.clients_train_run(job_id)


@task
def run_round(job_id):
    return lifecycle.round_run(job_id)


@task
def mine_round(job_id):
    """Puts a recorded round on the chain, searching nonces in this worker process."""
    return lifecycle.round_mine_run(job_id)


@task
def finish_experiment(job_id):
    return lifecycle.experiment_finish_run(job_id)
