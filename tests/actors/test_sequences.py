from __future__ import annotations

import threading

from pm_actors.actors.sequences import IdSequence


def test_ids_come_from_the_reserved_block_and_the_next_block_is_reserved_at_half_way() -> None:
    reserved: list[int] = []
    sequence = IdSequence("runs", first=101, reserve=lambda name, up_to: reserved.append(up_to), block=10)

    taken = [sequence.next() for _ in range(16)]

    assert taken == list(range(101, 117))
    # 111 is reserved ahead before 106 is handed out; 121 before 111 is: never an id unreserved.
    assert reserved == [121, 131]


def test_threads_never_get_the_same_id() -> None:
    sequence = IdSequence("processes", first=1, reserve=lambda name, up_to: None, block=8)
    taken: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(500):
            value = sequence.next()
            with lock:
                taken.append(value)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(taken) == list(range(1, 2001))
