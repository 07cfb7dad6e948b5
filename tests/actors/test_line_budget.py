from __future__ import annotations

from pm_actors.actors.line_budget import CharBudget, shorten


def test_a_line_within_the_cap_is_whole() -> None:
    budget = CharBudget(max_chars=1_000, max_line_chars=100)
    assert budget.take("short", "web", 7) == ("short", 0)
    assert budget.left == 995


def test_a_long_line_is_cut_with_the_call_that_reads_it_whole() -> None:
    budget = CharBudget(max_chars=16_000, max_line_chars=100)

    shown, cut = budget.take("x" * 1_000, "web", 42) or ("", 0)

    assert cut == 900 and shown.startswith("x" * 100 + "…[900 of 1,000 chars cut")
    assert shown.endswith("get_logs name=web after_id=41 limit=1 max_line_chars=1000]")


def test_a_line_longer_than_the_default_budget_asks_for_a_larger_budget_too() -> None:
    shown, _ = CharBudget(16_000, 100).take("y" * 20_000, "web", 1) or ("", 0)

    assert shown.endswith("max_line_chars=20000 max_chars=20000]")


def test_the_budget_ends_the_answer_but_never_before_its_first_line() -> None:
    budget = CharBudget(max_chars=1_000, max_line_chars=5_000)

    first = budget.take("a" * 3_000, "web", 1)
    second = budget.take("b" * 300, "web", 2)

    assert first is not None and len(first[0]) <= 1_000 and first[1] > 2_000
    assert second is None and budget.reached


def test_a_cut_keeps_the_text_around_the_focus() -> None:
    text = "a" * 1_000 + "MATCH" + "b" * 1_000

    kept, start, cut = shorten(text, 100, focus=1_000)

    assert "MATCH" in kept and start == 975 and cut == len(text) - 100
    assert shorten(text, 100, focus=len(text))[1] == len(text) - 100
