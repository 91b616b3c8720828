"""The replay's partitioning key never fails on a line, whatever the line holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from distillguard.streams.replay import account_key


def test_the_key_is_the_account_id() -> None:
    assert account_key(b'{"account_id":"acct_1","x":[1,2]}') == b"acct_1"


def test_lines_without_a_readable_account_id_have_no_key() -> None:
    assert account_key(b'{"account_id":"\xff\xfe"}') is None  # invalid UTF-8 crashed the replay
    assert account_key(b"not json") is None
    assert account_key(b'{"account_id":7}') is None


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_key_or_none(raw: bytes) -> None:
    key = account_key(raw)
    assert key is None or isinstance(key, bytes)


@given(st.text(max_size=50))
def test_any_text_id_is_its_own_key(account_id: str) -> None:
    import json

    line = json.dumps({"account_id": account_id}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        assert account_key(line) is None
        return
    assert account_key(line) == account_id.encode()
