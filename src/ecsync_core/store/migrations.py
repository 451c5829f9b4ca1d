"""
The schema, one numbered step at a time. A database file of any older step is upgraded in place.

Never edit a released step: add the next one.
"""

from __future__ import annotations


MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "mappings, runs and run items",
        """
        CREATE TABLE mappings (
            sku VARCHAR NOT NULL,
            mall VARCHAR NOT NULL,
            item VARCHAR NOT NULL,
            active BOOLEAN NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (sku, mall)
        );
        CREATE TABLE runs (
            id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            pid INTEGER,
            host VARCHAR,
            forced BOOLEAN NOT NULL DEFAULT FALSE,
            found INTEGER NOT NULL DEFAULT 0,
            mapped INTEGER NOT NULL DEFAULT 0,
            updates INTEGER NOT NULL DEFAULT 0,
            succeeded INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            message VARCHAR NOT NULL DEFAULT ''
        );
        CREATE TABLE run_items (
            run_id VARCHAR NOT NULL,
            sku VARCHAR NOT NULL,
            mall VARCHAR NOT NULL,
            item VARCHAR NOT NULL,
            amazon_qty INTEGER,
            before INTEGER,
            sent INTEGER NOT NULL,
            after INTEGER,
            outcome VARCHAR NOT NULL,
            error VARCHAR
        );
        """,
    ),
    (
        2,
        "rule governance, rollback links and plugin state",
        """
        ALTER TABLE runs ADD COLUMN rule_fingerprint VARCHAR NOT NULL DEFAULT '';
        ALTER TABLE runs ADD COLUMN target_run VARCHAR;
        ALTER TABLE runs ADD COLUMN rolled_back_by VARCHAR;
        CREATE TABLE rule_approvals (
            fingerprint VARCHAR NOT NULL,
            rules_json VARCHAR NOT NULL,
            approved_by VARCHAR NOT NULL,
            approved_at TIMESTAMP NOT NULL
        );
        CREATE TABLE plugin_state (
            mall VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            value VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            PRIMARY KEY (mall, key)
        );
        """,
    ),
    (
        3,
        "runs count the items they left alone",
        "ALTER TABLE runs ADD COLUMN left_alone INTEGER NOT NULL DEFAULT 0;",
    ),
)
