import pytest

from apps.explorer.errors import BadRequest
from apps.core.pagination import keyset_page
from apps.explorer.params import (
    MAX_INTEGER,
    classify_query,
    parse_block_ref,
    parse_digest,
    parse_integer,
    parse_limit,
    parse_optional_integer,
)

DIGEST = "ab" * 32


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), (" 7 ", 7), (str(MAX_INTEGER), MAX_INTEGER)])
def test_integers_parse(text, value):
    assert parse_integer(text, name="height") == value


@pytest.mark.parametrize("text", ["", "-1", "1.5", "1e3", "abc", "٣", "²", str(MAX_INTEGER + 1), "9" * 400])
def test_malformed_or_out_of_range_integers_are_refused_with_the_parameter_named(text):
    with pytest.raises(BadRequest) as refused:
        parse_integer(text, name="height")
    assert refused.value.error == "invalid_height"
    assert "height" in refused.value.detail
    assert len(refused.value.detail) < 200  # a huge input is not echoed back whole


def test_digests_are_normalised_to_lower_case():
    assert parse_digest(DIGEST.upper(), name="txid") == DIGEST


@pytest.mark.parametrize("text", ["", "ab" * 31, "ab" * 33, "zz" * 32, "0x" + "ab" * 31])
def test_non_digests_are_refused(text):
    with pytest.raises(BadRequest) as refused:
        parse_digest(text, name="txid")
    assert refused.value.as_dict() == {"error": "invalid_txid", "detail": refused.value.detail}


def test_a_block_is_named_by_height_or_hash():
    assert parse_block_ref("12") == ("height", 12)
    assert parse_block_ref(DIGEST.upper()) == ("hash", DIGEST)
    for text in ["tip", "-3", "ab" * 10, "12a"]:
        with pytest.raises(BadRequest):
            parse_block_ref(text)


def test_limits_default_and_are_bounded():
    assert parse_limit(None, default=20, maximum=100) == 20
    assert parse_limit("100", default=20, maximum=100) == 100
    for text in ["", "0", "101", "x"]:
        with pytest.raises(BadRequest):
            parse_limit(text, default=20, maximum=100)
    assert parse_optional_integer(None, name="before") is None
    assert parse_optional_integer("5", name="before") == 5
    with pytest.raises(BadRequest):
        parse_optional_integer("", name="before")


def test_search_queries_are_classified():
    assert classify_query(" 5 ") == ("height", 5)
    assert classify_query(DIGEST.upper()) == ("digest", DIGEST)
    assert classify_query("9" * 30) == ("prefix", "9" * 30)
    assert classify_query("9" * 70) == ("text", "9" * 70)
    assert classify_query("00001234") == ("prefix", "00001234")
    assert classify_query("0012") == ("prefix", "0012")
    assert classify_query("012") == ("height", 12)
    assert classify_query("ABCD") == ("prefix", "abcd")
    assert classify_query("abc") == ("text", "abc")
    assert classify_query("hello") == ("text", "hello")


def test_a_keyset_page_gives_the_cursor_of_the_next_one_only_when_there_is_more():
    rows = [9, 8, 7, 6]
    page = keyset_page(rows, limit=3, key=lambda height: height)
    assert page.items == [9, 8, 7] and page.next_key == 7
    last = keyset_page([2, 1], limit=3, key=lambda height: height)
    assert last.items == [2, 1] and last.next_key is None
    assert keyset_page([], limit=3, key=lambda height: height).next_key is None
