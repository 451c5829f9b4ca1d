"""
Rule governance: a rule table that differs from the last approved one does not go live silently.
"""

from __future__ import annotations

import json

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ecsync_core.allocation import Overcommit, overcommitted
from ecsync_core.domain import RuleSet
from ecsync_core.errors import RefusedError


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App


@attrs.frozen
class RuleStatus:
    """
    The table in force and its approval.

    Attributes:
        approved: whether the table in force is the last approved one.
        default_table: no approval was ever recorded and the table is the manual's: it needs none.
        approved_by: who approved the table in force, and *approved_at* when; ``None`` when it is not approved.
    """

    rules: RuleSet
    approved: bool
    default_table: bool
    approved_by: str | None = None
    approved_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.rules.fingerprint,
            "rules": self.rules.as_text(),
            "approved": self.approved,
            "default_table": self.default_table,
            "approved_by": self.approved_by,
            "approved_at": None if self.approved_at is None else self.approved_at.isoformat() + "Z",
        }


def rule_status(app: App) -> RuleStatus:
    rules = app.settings.rules
    approvals = app.ledger.approvals()
    if not approvals:
        # The manual's own table is what the managers signed off in the manual itself.
        default = rules == RuleSet()
        return RuleStatus(rules, approved=default, default_table=default)
    fingerprint, _table, by, at = approvals[0]
    if fingerprint != rules.fingerprint:  # the last approval was of another table: nobody approved this one
        return RuleStatus(rules, approved=False, default_table=False)
    return RuleStatus(rules, True, False, by, at)


def overcommit(app: App) -> Overcommit:
    """Where the table in config gives the installed target malls more units in all than FBA holds."""
    return overcommitted(app.settings.rules, [p.code for p in app.host.targets()])


def approve(app: App, by: str, seen: str | None = None) -> datetime:
    """
    Record *by*'s approval of the table in config. *seen*, the fingerprint the approver reviewed (``rules show``,
    ``simulate``), must still be the table's: an edit made in between is not approved unseen.
    """
    if not by.strip():
        raise RefusedError("rules approve: --by must name the person approving")
    rules = app.settings.rules
    if seen is not None and seen != rules.fingerprint:
        raise RefusedError(
            f"rules approve: the table in config is now {rules.fingerprint}, not the {seen} you reviewed; "
            "look at it again (`ecsync rules show`)"
        )
    return app.ledger.approve_rules(rules.fingerprint, json.loads(json.dumps(rules.as_text())), by.strip())


def require_approved(app: App) -> None:
    """Refuse a live run with an unapproved table; `simulate` and dry runs work with it (a dry run warns)."""
    if (why := unapproved(app)) is not None:
        raise RefusedError(why)


def unapproved(app: App) -> str | None:
    """Why a live run would be refused over its rule table, or None when the table is approved."""
    status = rule_status(app)
    if status.approved:
        return None
    return (
        f"the rule table in config ({status.rules.fingerprint}) is not approved: a manager runs "
        "`ecsync rules approve --by NAME` (see `ecsync rules show`); dry runs and simulate still work"
    )
