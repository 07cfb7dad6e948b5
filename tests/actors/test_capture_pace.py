from __future__ import annotations

from pm_actors.actors.capture_pace import BUSY_LINES_PER_S, WINDOW_S, CapturePace

FLOOD_WINDOW = int(BUSY_LINES_PER_S * WINDOW_S) + 1
"""One more line in a window than a busy pace allows."""


def test_a_flood_is_busy_until_two_windows_after_it_ends() -> None:
    pace = CapturePace()
    pace.stored(FLOOD_WINDOW, 100.0)
    assert pace.busy(100.0 + WINDOW_S / 2)
    assert pace.busy(100.0 + WINDOW_S * 1.5)  # the window before still counts
    assert not pace.busy(100.0 + WINDOW_S * 3.5)


def test_a_steady_log_of_a_dev_server_is_never_busy() -> None:
    pace = CapturePace()
    for tick in range(100):
        now = 100.0 + tick * 0.01
        pace.stored(20, now)  # 2,000 lines a second
        assert not pace.busy(now)
