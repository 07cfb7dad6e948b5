"""The messages between the daemon and its keeper: JSON, with file descriptors attached.

The keeper (`pm_actors.app.keeper`) is the daemon's parent. It holds duplicates of every
managed child's pipe read ends and pidfd, so that when the daemon dies the pipes stay open (a
child blocks when its pipe is full, it never gets a broken pipe) and the next daemon can take
them over. One `SOCK_SEQPACKET` socket pair joins them: a message is one packet, and the
descriptors it carries travel with it (SCM_RIGHTS).

Standard library only, and nothing of ours: the keeper imports this and must stay a few MB.

daemon -> keeper:
- `hold {run_id, process_id, pid, started_at}` + [stdout, stderr, pidfd]: a run began.
- `release {run_id}`: the run ended; the keeper closes its copies.
- `stop {}`: the daemon ends for good (a stop asked for): the keeper exits after it.
- `restart {}`: the daemon ends to be started again (an upgrade, new settings): the
  processes run on and the next daemon adopts them.
- `hello {}`: a starting daemon asks what is held.
keeper -> daemon:
- `held {runs: [{run_id, process_id, pid, started_at}, ...]}` + 3 descriptors per run, in order.
- `exited {pid, status}`: a child the keeper reaped (it was re-parented to the keeper).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Final

KEEPER_FD_VARIABLE: Final = "PM_KEEPER_FD"
"""Set by the keeper in the daemon's environment: the daemon's end of the socket pair."""
MAX_PACKET_BYTES: Final = 1024 * 1024
"""Far above any message (the largest, `held`, is ~100 bytes per run)."""
MAX_FDS_PER_PACKET: Final = 3 * 1024
"""SCM_RIGHTS carries at most 253 descriptors per message on Linux; `held` is sent in
batches well under that (see `FDS_PER_HELD_BATCH`), this only bounds a receive."""
RUNS_PER_HELD_BATCH: Final = 80
"""3 descriptors a run: 240 per packet, under the kernel's 253 (SCM_MAX_FD)."""


class KeeperGone(Exception):
    """The other end of the socket pair closed."""


def socket_pair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(connection: socket.socket, op: str, fds: list[int] | None = None, **fields: Any) -> None:
    data = json.dumps({"op": op, **fields}).encode()
    if fds:
        socket.send_fds(connection, [data], fds)
    else:
        connection.sendall(data)


def receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The next message and the descriptors it carried (now ours to close)."""
    data, fds, _flags, _address = socket.recv_fds(connection, MAX_PACKET_BYTES, MAX_FDS_PER_PACKET)
    if not data:
        for fd in fds:
            os.close(fd)
        raise KeeperGone("the other end of the keeper's socket pair closed")
    message: dict[str, Any] = json.loads(data)
    return message, list(fds)
