"""`pm-actors errors` and `pm-actors resolve`: the errors found in processes' output.

With no name, the overview a person wants first (unresolved errors, counts, the hourly trend);
with a name or a filter, that listing. The text is the one an agent reads from the same calls,
so the person and the model see each error alike.
"""

from __future__ import annotations

import argparse

import msgspec

from pm_actors.app.console import EXIT_OK, Console
from pm_actors.error_requests import GetErrors, GetLatestErrors, MarkErrorResolved


def errors(arguments: argparse.Namespace, console: Console) -> int:
    listing = GetErrors(
        name=arguments.name,
        category=arguments.category,
        since=arguments.since,
        resolved=arguments.resolved,
        limit=arguments.limit,
    )
    filtered = listing != GetErrors(limit=arguments.limit)
    result = console.caller.call(listing if filtered else GetLatestErrors(limit=arguments.limit))
    console.print(msgspec.json.encode(result).decode() if arguments.json else result.summary())
    return EXIT_OK


def resolve(arguments: argparse.Namespace, console: Console) -> int:
    record = console.caller.call(MarkErrorResolved(error_id=arguments.error_id, note=arguments.note))
    console.print(record.summary())
    return EXIT_OK
