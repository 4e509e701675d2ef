"""Synthetic chains for benchmarks: built in bulk, and still a chain verify_chain accepts."""

import pytest

from apps.ledger import services
from apps.ledger.models import Block, Checkpoint
from apps.ledger.synthetic import SyntheticChain

pytestmark = pytest.mark.django_db


def test_a_synthetic_chain_is_valid_and_signed():
    chain = SyntheticChain(planned_blocks=30, experiments=3, clients=2)
    chain.grow_to(30, batch=7)
    report = services.chain_verify()
    assert report.valid and report.height == 30
    assert Checkpoint.objects.count() == 31
    assert set(Block.objects.exclude(height=0).values_list("experiment_id", flat=True)) == {1, 2, 3}
    header, records = chain.candidate()
    assert services.block_append(header=header, records=records).height == 31  # the services build on it


def test_checked_blocks_must_start_on_the_main_tip():
    chain = SyntheticChain(planned_blocks=5)
    chain.grow_to(2)
    header, records = chain.candidate()
    checked = services.block_check(header=header, records=records)
    services.block_append(header=header, records=records)
    with pytest.raises(ValueError, match="do not start on the main tip"):
        services.blocks_store_checked([(checked, [])])
