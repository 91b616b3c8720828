"""Coverage-guided fuzzing of the api-event/v1 parser with atheris (libFuzzer), beside the hypothesis tests.

Property: ``parse_event`` returns an :class:`Event` that round-trips through ``encode_event``, or raises an
:class:`EventError` naming a field (``$`` or a path into a known field) with a reason of at most
``MAX_REASON`` characters; any other exception is a crash, and libFuzzer saves the input as ``crash-*``.

    .venv/bin/python tests/fuzz/fuzz_parse_event.py --write-seeds fuzz-corpus [N]   # N valid and N broken seeds (200)
    .venv/bin/python tests/fuzz/fuzz_parse_event.py fuzz-corpus -max_total_time=300 -max_len=65536

(``pip install atheris``: manylinux wheels, Linux only; the test extra installs it there.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    from distillguard.detector.events import MAX_REASON, Event, EventError, encode_event, parse_event


def check(data: bytes) -> None:
    """Assert the parser's contract on one input."""
    try:
        ev = parse_event(data)
    except EventError as err:
        root = err.field.split("[")[0].split(".")[0]
        assert err.field == "$" or root in Event.__struct_fields__, err
        assert err.reason and len(err.reason) <= MAX_REASON, err
        return
    assert parse_event(encode_event(ev)) == ev


def write_seeds(out: Path, n: int = 200) -> int:
    """Write ``n`` valid events and ``n`` broken messages drawn from the hypothesis strategies as seed files."""
    from tests.event_strategies import bad_messages, encode, examples, valid_events

    seeds = [encode(doc) for doc in examples(valid_events(), n, 1)] + [
        bad.raw for bad in examples(bad_messages(), n, 2)
    ]
    out.mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(seeds):
        (out / f"seed-{i:04d}").write_bytes(raw)
    return len(seeds)


def main() -> None:
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--write-seeds":
        print(f"{write_seeds(Path(sys.argv[2]), *map(int, sys.argv[3:]))} seeds written to {sys.argv[2]}")
        return
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
