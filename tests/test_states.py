from __future__ import annotations

import pytest

from pm_actors.states import ALLOWED_TRANSITIONS, IllegalTransition, ProcessState, check_transition


def test_every_state_has_an_entry_in_the_transition_table() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(ProcessState)


def test_a_stop_ends_in_stopped_through_stopping() -> None:
    check_transition("web", ProcessState.RUNNING, ProcessState.STOPPING)
    check_transition("web", ProcessState.STOPPING, ProcessState.STOPPED)


def test_an_illegal_transition_raises_our_error_naming_the_process_and_the_edge() -> None:
    with pytest.raises(IllegalTransition, match="'web': illegal transition stopped -> running"):
        check_transition("web", ProcessState.STOPPED, ProcessState.RUNNING)
