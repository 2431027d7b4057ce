"""The queue's entries by task id, indexed by state, in the order they were first added.

The framework asks for the queued tasks three times per offer round and the pass asks for
the live ones, while the queue keeps up to `keep_ended` ended tasks (10,000) so that their
status can be read back: a scan of every entry per question made each round cost in
proportion to everything the queue ever held. The index answers in proportion to the
tasks in the states asked for, in the order a dict of the entries would list them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Generic, TypeVar

E = TypeVar("E")


class IndexedEntries(Generic[E]):
    """task id -> entry; `ids(states)` lists the ids in those states, oldest entry first."""

    def __init__(self, state_of: Callable[[E], str]) -> None:
        self._state_of = state_of
        self._entries: dict[str, E] = {}
        self._state: dict[str, str] = {}
        self._by_state: dict[str, set[str]] = {}
        self._seq: dict[str, int] = {}
        self._next = count()

    def __setitem__(self, key: str, entry: E) -> None:
        if key not in self._entries:
            self._seq[key] = next(self._next)
        else:
            self._by_state[self._state[key]].discard(key)
        state = self._state_of(entry)
        self._entries[key] = entry
        self._state[key] = state
        self._by_state.setdefault(state, set()).add(key)

    def __delitem__(self, key: str) -> None:
        del self._entries[key]
        self._by_state[self._state.pop(key)].discard(key)
        del self._seq[key]

    def __getitem__(self, key: str) -> E:
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> E | None:
        return self._entries.get(key)

    def values(self) -> Iterator[E]:
        return iter(self._entries.values())

    def items(self) -> Iterator[tuple[str, E]]:
        return iter(self._entries.items())

    def clear(self) -> None:
        self._entries.clear()
        self._state.clear()
        self._by_state.clear()
        self._seq.clear()

    def ids(self, *states: str) -> list[str]:
        """Ids of the entries in any of `states`, in the order they were first added."""
        found = [key for state in states for key in self._by_state.get(state, ())]
        return sorted(found, key=self._seq.__getitem__)

    def counted(self, *states: str) -> int:
        return sum(len(self._by_state.get(state, ())) for state in states)
