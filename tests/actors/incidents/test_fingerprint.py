from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pm_actors.actors.incidents.fingerprint import fingerprint, normalized

CWD = "/home/dev/shop"


def test_what_varies_between_repeats_is_blanked_out() -> None:
    assert (
        normalized(
            "2024-05-01T10:00:00.123Z request 7f3a9c2e-1b2c-4d5e-8f90-123456789abc failed on port 3000 "
            "at 0x7ffd5e8 for 'alice' in /home/dev/shop/src/cart.py",
            CWD,
        )
        == "<time> request <uuid> failed on port <n> at <hex> for '<q>' in <cwd>/src/cart.py"
    )


def test_repeats_of_one_error_share_a_fingerprint_and_other_errors_do_not() -> None:
    frame = 'File "/home/dev/shop/src/db.py", line 12, in connect'
    first = fingerprint(
        "connection_refused", "ConnectionRefusedError", "[Errno 111] refused :5432", frame, CWD
    )
    again = fingerprint(
        "connection_refused",
        "ConnectionRefusedError",
        "[Errno 111] refused :5433",
        frame.replace("12", "14"),
        CWD,
    )
    elsewhere = fingerprint(
        "connection_refused",
        "ConnectionRefusedError",
        "[Errno 111] refused :5432",
        'File "/home/dev/shop/src/cache.py", line 12, in connect',
        CWD,
    )
    other_type = fingerprint("connection_refused", "OSError", "[Errno 111] refused :5432", frame, CWD)
    assert first == again
    assert len({first, elsewhere, other_type}) == 3


def test_the_same_error_in_two_checkouts_has_one_fingerprint() -> None:
    one = fingerprint(
        "unhandled_exception", "KeyError", "KeyError: 'x'", 'File "/a/repo/app.py", line 3, in f', "/a/repo"
    )
    two = fingerprint(
        "unhandled_exception", "KeyError", "KeyError: 'y'", 'File "/b/repo/app.py", line 9, in f', "/b/repo"
    )
    assert one == two


@given(st.text(max_size=200))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalized(text, CWD)
    assert normalized(once, CWD) == once
