"""moto's DynamoDB made to copy a table once per transaction, not once per member.

moto 5 rolls a cancelled TransactWriteItems back from a deep copy of each table it touches,
but it takes that copy once per member, all before the first member runs: a 5-member
transaction on a 200-item table copies 1,000 items. In a day's replay that was about 15 s
of 140, most of it in the framework's task writes. The copies are all of the same
pre-transaction table, so keeping the call's first copy of each table changes nothing but
the time. `install()` swaps the `copy` module that moto's DynamoDB models use for one whose
`deepcopy` hands back that first copy while a transaction runs on the calling thread.

For the embedded world only (the product never imports this). A moto whose transaction code
does not read as this expects is left as it is: slower, never wrong.
"""

from __future__ import annotations

import copy
import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.models.table import Table

#: What moto's `transact_write_items` must contain for the copy kept to be the right one.
_EXPECTED = "original_table_state[table_name] = copy.deepcopy("
_local = threading.local()


class _OneCopyPerTable:
    """The `copy` module, but a table is deep-copied once per transaction on this thread."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        kept: dict[int, tuple[Any, Any]] | None = getattr(_local, "tables", None)
        if kept is None or memo is not None or not isinstance(value, self._table_type):
            return copy.deepcopy(value, memo)
        entry = kept.get(id(value))
        if entry is None or entry[0] is not value:
            entry = kept[id(value)] = (value, copy.deepcopy(value))
        return entry[1]


def install() -> bool:
    """Patch moto's DynamoDB backend (idempotent); whether it is patched."""
    backend = models.DynamoDBBackend
    current: Callable[..., Any] = backend.transact_write_items
    if getattr(current, "_one_copy_per_table", False):
        return True
    if getattr(models, "copy", None) is not copy or _EXPECTED not in inspect.getsource(current):
        return False

    @functools.wraps(current)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        outer = getattr(_local, "tables", None)
        _local.tables = {}
        try:
            return current(self, transact_items)
        finally:
            _local.tables = outer

    transact_write_items._one_copy_per_table = True  # type: ignore[attr-defined]
    setattr(models, "copy", _OneCopyPerTable(Table))  # noqa: B010 (not an export of moto's)
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    return True
