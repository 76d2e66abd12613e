"""The DuckDB evidence store. DuckDB is imported only inside this package."""

from store.batch import Batch, OffsetKey
from store.store import TABLES, Store
from store.writer import WriteStats

__all__ = ["TABLES", "Batch", "OffsetKey", "Store", "WriteStats"]
