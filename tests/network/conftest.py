import pytest

from .nodes import peered


@pytest.fixture
def network(tmp_path):
    """A function starting `count` peered nodes; all are stopped when the test ends."""
    started = []

    def start(count, **kwargs):
        nodes = peered(tmp_path, count, **kwargs)
        started.extend(nodes)
        for node in nodes:
            node.launch()
        for node in nodes:
            node.ready()
        return nodes

    yield start
    for node in started:
        node.stop_request()
    for node in started:
        node.stop_wait()
