"""The miner task: puts a recorded experiment round on the chain, searching nonces in the worker process."""

from django.tasks import task

from apps.federated.lifecycle import round_mine_run


@task
def mine_round(job_id):
    return round_mine_run(job_id)
