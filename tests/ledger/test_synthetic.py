"""Synthetic chains for benchmarks: built in bulk, and still a chain verify_chain accepts."""

import pytest

from apps.ledger import store, watch
from apps.ledger.models import Block, Checkpoint
from apps.ledger.synthetic import SyntheticChain

pytestmark = pytest.mark.django_db


def test_a_synthetic_chain_is_valid_and_signed():
    chain = SyntheticChain(planned_blocks=30, experiments=3, clients=2)
    chain.grow_to(30, batch=7)
    report = watch.chain_verify()
    assert report.valid and report.last_valid_height == 30
    assert Checkpoint.objects.count() == 31
    assert set(Block.objects.exclude(height=0).values_list("experiment_id", flat=True)) == {1, 2, 3}
    header, records = chain.candidate()
    assert store.block_append(header=header, records=records).height == 31  # the services build on it


def test_checked_blocks_must_start_on_the_main_tip():
    chain = SyntheticChain(planned_blocks=5)
    chain.grow_to(2)
    header, records = chain.candidate()
    checked = store.block_check(header=header, records=records)
    store.block_append(header=header, records=records)
    with pytest.raises(ValueError, match="do not start on the main tip"):
        store.blocks_store_checked([checked])
