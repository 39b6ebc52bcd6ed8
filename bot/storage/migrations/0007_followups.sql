-- v7: check-in follow-ups. The schedule's source of truth: one row per follow-up with its due
-- time in clear (a local day at the send time, never when a conversation ended) and everything
-- else sealed, bound to the row: whose it is, the plan and its step, and for a helper's own
-- follow-up which helper asked. The lookup hash finds a member's rows; it is keyed, so without
-- the master key it names nobody. Deleting the row is the end of the link.
CREATE TABLE followups (
    id          TEXT PRIMARY KEY,
    member_hash BLOB NOT NULL,
    sealed      BLOB NOT NULL,
    due_at      TEXT NOT NULL,
    claim       TEXT,            -- the dispatcher holding it, until lease_until
    lease_until TEXT
) STRICT;
CREATE INDEX followups_due ON followups (due_at);
CREATE INDEX followups_member ON followups (member_hash);

-- Per member: quiet hours ("08:00-16:00", "" for none; no row: the configured default).
CREATE TABLE followup_prefs (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    quiet     TEXT NOT NULL
) STRICT;

-- Numbers only: how nudges went, per plan and step. No member, no follow-up, no time.
CREATE TABLE followup_counts (
    plan   TEXT    NOT NULL,
    step   INTEGER NOT NULL,
    answer TEXT    NOT NULL,
    count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plan, step, answer)
) STRICT;
