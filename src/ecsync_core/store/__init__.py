"""
DuckDB adapters: mappings, the runs ledger, rule approvals, plugin state; migrations; the run lock.
"""

from ecsync_core.store.db import Database
from ecsync_core.store.ledger import DuckDBLedger
from ecsync_core.store.lock import RunLock
from ecsync_core.store.mappings import DuckDBMappings
from ecsync_core.store.state import DuckDBKeyValue


__all__ = ["Database", "DuckDBKeyValue", "DuckDBLedger", "DuckDBMappings", "RunLock"]
