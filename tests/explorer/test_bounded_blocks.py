"""A block of many records costs a view a page of them: /api/blocks/<ref>/ and /blocks/<ref>/ list records a
page at a time, and re-check the records by the ledger's rules only up to a size (beyond, the chain watcher's
full checks stand for them, and the answer says so)."""

import re

import pytest

from apps.explorer.selectors import RECHECK_MAX_BYTES, RECORDS_PAGE
from apps.ledger.models import Block
from tests.crowd import records_add

pytestmark = pytest.mark.django_db

EXTRA = 3000  # about 7 MB of records: more than a view re-checks
PADDING = "p" * 2400
PAGE_BYTES = RECORDS_PAGE * (len(PADDING) + 300) + 10_000


@pytest.fixture
def crowded_block(experiment_chain):
    """Block 2 of the experiment chain with 3000 more records, as rows (as an edit of the database could add)."""
    block = Block.objects.get(status="main", height=2)
    start = block.records.count()
    assert records_add(block, EXTRA, padding=PADDING) > RECHECK_MAX_BYTES
    return block, start + EXTRA


def test_the_api_pages_through_every_record_a_bounded_page_at_a_time(client, crowded_block):
    block, total = crowded_block
    seen, path, pages = [], "/api/blocks/2/", 0
    while path is not None and pages <= total // RECORDS_PAGE + 1:
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) < PAGE_BYTES, (path, len(response.content))
        detail = response.json()
        assert detail["hash"] == block.hash and len(detail["tx"]) <= RECORDS_PAGE
        assert detail["records_rechecked"] is False
        seen += [tx["index"] for tx in detail["tx"]]
        path, pages = detail["tx_next"], pages + 1
    assert seen == list(range(total)) and pages == -(-total // RECORDS_PAGE)


def test_the_block_page_shows_a_page_of_records_and_links_the_next(client, crowded_block):
    page = client.get("/blocks/2/").content.decode()
    assert len(page.encode()) < PAGE_BYTES
    assert len(re.findall(r'<td class="num">\d+</td>', page)) == RECORDS_PAGE
    assert f'href="?after={RECORDS_PAGE - 1}&amp;limit={RECORDS_PAGE}" rel="next"' in page
    assert "too many bytes to re-check on every view" in page
    following = client.get(f"/blocks/2/?after={RECORDS_PAGE - 1}").content.decode()
    assert f'<td class="num">{RECORDS_PAGE}</td>' in following and 'rel="first"' in following


def test_a_block_of_ordinary_size_is_re_checked_on_every_view(client, experiment_chain):
    detail = client.get("/api/blocks/2/").json()
    assert detail["records_rechecked"] is True and detail["tx_next"] is None and len(detail["tx"]) == detail["nTx"]


@pytest.mark.parametrize("query", ["after=x", "after=-1", "limit=0", f"limit={RECORDS_PAGE + 1}"])
def test_malformed_record_cursors_are_clear_400s(client, experiment_chain, query):
    response = client.get(f"/api/blocks/2/?{query}")
    assert response.status_code == 400 and response.json()["error"].startswith("invalid_")
