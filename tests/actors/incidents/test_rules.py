"""Each rule of the category table, with the text that real programs print."""

from __future__ import annotations

import pytest

from pm_actors.actors.incidents.rules import RULES, categorize, is_error_line

CASES = [
    ("port_in_use", "Error: listen EADDRINUSE: address already in use :::3000"),
    ("port_in_use", "OSError: [Errno 98] Address already in use"),
    ("port_in_use", "Bind for 0.0.0.0:5432 failed: port is already allocated"),
    ("module_not_found", "ModuleNotFoundError: No module named 'flask'"),
    ("module_not_found", "Error: Cannot find module 'express'"),
    ("module_not_found", "java.lang.ClassNotFoundException: org.postgresql.Driver"),
    ("module_not_found", "ImportError: cannot import name 'x' from 'y'"),
    ("file_not_found", "FileNotFoundError: [Errno 2] No such file or directory: 'config.yml'"),
    ("file_not_found", "Error: ENOENT: no such file or directory, open '.env'"),
    ("permission_denied", "PermissionError: [Errno 13] Permission denied: '/var/log/app.log'"),
    ("permission_denied", "Error: EACCES: permission denied, open '/etc/shadow'"),
    ("connection_refused", "ConnectionRefusedError: [Errno 111] Connection refused"),
    ("connection_refused", "Error: connect ECONNREFUSED 127.0.0.1:5432"),
    ("out_of_memory", "MemoryError"),
    ("out_of_memory", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"),
    ("out_of_memory", 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space'),
    ("out_of_memory", "memory allocation of 1099511627776 bytes failed"),
    ("segfault", "Segmentation fault (core dumped)"),
    ("segfault", "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4553a1]"),
    ("syntax_error", "SyntaxError: invalid syntax"),
    ("syntax_error", "IndentationError: unexpected indent"),
    ("syntax_error", "SyntaxError: Unexpected token '}'"),
    ("timeout", "TimeoutError: timed out"),
    ("timeout", "Error: connect ETIMEDOUT 10.0.0.1:443"),
    ("timeout", "context deadline exceeded"),
]


@pytest.mark.parametrize(("category", "text"), CASES)
def test_each_rule_names_its_category(category: str, text: str) -> None:
    assert categorize(text, is_trace=False) == category
    assert categorize(text, is_trace=True) == category


def test_every_rule_has_a_case() -> None:
    assert {category for category, _ in RULES} == {category for category, _ in CASES}


def test_a_trace_no_rule_names_is_an_unhandled_exception_and_a_line_is_nothing() -> None:
    assert categorize("KeyError: 'user'", is_trace=True) == "unhandled_exception"
    assert categorize("KeyError: 'user'", is_trace=False) is None


@pytest.mark.parametrize(
    ("line", "is_error"),
    [
        ("ERROR payment failed", True),
        ("Connection refused while polling", True),
        ("0 errors, 0 warnings", False),
        ("GET /api/errors 200", False),
        ("the word error appears here", False),
        ("INFO all good", False),
    ],
)
def test_a_line_is_an_error_when_its_level_or_a_rule_says_so(line: str, is_error: bool) -> None:
    assert is_error_line(line) is is_error
