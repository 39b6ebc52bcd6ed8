-- v15: critical incidents. While one is open: its record, sealed (the agency and its keyed
-- hash, the day it opened, who opened it, how many to page, and the helpers who said they were
-- involved or may be named), and its pages, which are like offers. Both are deleted when the
-- incident closes; what stays is one anonymous row of numbers: its week, pages sent, accepted.
CREATE TABLE incidents (
    id        TEXT PRIMARY KEY,
    record_ct BLOB NOT NULL
) STRICT;

CREATE TABLE incident_pages (
    incident_id TEXT    NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    helper_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'expired')),
    sent_at     TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    message_ct  BLOB,
    PRIMARY KEY (incident_id, helper_id)
) STRICT;

CREATE TABLE incident_metrics (
    id             INTEGER PRIMARY KEY,
    week           TEXT    NOT NULL,
    pages_sent     INTEGER NOT NULL,
    pages_accepted INTEGER NOT NULL
) STRICT;
