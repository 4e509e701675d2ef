"""import_chain under arbitrary input: any JSON value, or an export with any one part replaced by any JSON value,
is imported or refused with a ValueError (a CommandError from the command) and changes nothing when refused."""

import copy
import io

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.ledger import exchange

from .test_export_import import snapshot

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(data, path, value):
    if not path:
        return value
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def import_or_refuse(data):
    before = snapshot()
    try:
        exchange.chain_import(data)
    except ValueError as error:
        assert str(error)
        assert snapshot() == before


@FUZZ
@given(json_values)
def test_any_json_value_is_refused_clearly(chain, data):
    import_or_refuse(data)


@FUZZ
@given(st.data())
def test_an_export_with_any_part_replaced_is_imported_or_refused_clearly(chain, data):
    export = exchange.chain_export()
    path = data.draw(st.sampled_from(list(paths(export))))
    import_or_refuse(replaced(export, path, data.draw(json_values)))


def test_a_deeply_nested_file_is_a_clear_error(db, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"format": "fedchain-chain", "blocks": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    with pytest.raises(CommandError, match="nested too deeply"):
        call_command("import_chain", str(path), stdout=io.StringIO())
    export = exchange.chain_export()
    deep = []
    for _ in range(50_000):
        deep = [deep]
    export["blocks"][0]["records"][0]["deep"] = deep
    import_or_refuse(export)
