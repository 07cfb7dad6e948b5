"""What every command of the command line gets: where to print, colour or not, the daemon."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final, TextIO

from pm_actors.app.terminal import Painter, colour_enabled
from pm_actors.config import Config

if TYPE_CHECKING:
    from pm_actors.app.caller import Caller

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


class UsageError(Exception):
    """The command line was used wrongly; the message says how to use it (exit code 2)."""


class Console:
    def __init__(self, config: Config, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.config = config
        self.out = out or sys.stdout  # looked up now: whoever replaced them since import
        self.err = err or sys.stderr
        self.painter = Painter(colour_enabled(self.out))
        self._caller: Caller | None = None

    @property
    def caller(self) -> Caller:
        """The session to the daemon, opened (and the daemon started) on first use."""
        if self._caller is None:
            from pm_actors.app.caller import Caller  # the daemon, which uses EXIT_*, needs no client

            self._caller = Caller(self.config)
        return self._caller

    def print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def print_error(self, text: str) -> None:
        print(Painter(colour_enabled(self.err)).error(text), file=self.err, flush=True)

    def close(self) -> None:
        if self._caller is not None:
            self._caller.close()
            self._caller = None
