"""
The domain: pure value types, no I/O.
"""

from ecsync_core.domain.rule import MANUAL_RULE, AllocationRule, RuleSet, Tier
from ecsync_core.domain.run import Counts, Outcome, Run, RunItem, RunKind, new_run_id
from ecsync_core.domain.stock import (
    MAX_QUANTITY,
    CredentialStatus,
    ItemResult,
    Mapping,
    PlannedUpdate,
    SourceSnapshot,
    StockWrite,
    counted,
)


__all__ = [
    "MANUAL_RULE",
    "MAX_QUANTITY",
    "AllocationRule",
    "Counts",
    "CredentialStatus",
    "ItemResult",
    "Mapping",
    "Outcome",
    "PlannedUpdate",
    "RuleSet",
    "Run",
    "RunItem",
    "RunKind",
    "SourceSnapshot",
    "StockWrite",
    "Tier",
    "counted",
    "new_run_id",
]
