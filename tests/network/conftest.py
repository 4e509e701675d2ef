import pytest

from .nodes import migrated_template, peered


@pytest.fixture(scope="session")
def node_template(tmp_path_factory):
    """One migrated database that every node of the run starts from (a migrate is a process of its own)."""
    return migrated_template(tmp_path_factory.mktemp("node-template"))


@pytest.fixture
def network(tmp_path, node_template):
    """A function starting `count` peered nodes; all are stopped when the test ends."""
    started = []

    def start(count, **kwargs):
        nodes = peered(tmp_path, count, template=node_template, **kwargs)
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
