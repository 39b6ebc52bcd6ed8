-- v2: routing and the contact clock: on-call hours, cool-down, ignored offers, specialties,
-- supervision, private block lists, continuity, escalation state and anonymous clock metrics.
ALTER TABLE members ADD COLUMN timezone TEXT;
ALTER TABLE members ADD COLUMN on_call TEXT;            -- weekly hours, e.g. "mon-fri 18:00-06:00"
ALTER TABLE members ADD COLUMN away_until TEXT;         -- /away inside on-call hours holds until
ALTER TABLE members ADD COLUMN cooldown_until TEXT;     -- rest after an urgent thread
ALTER TABLE members ADD COLUMN ignored_offers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN topics TEXT NOT NULL DEFAULT '';   -- categories a helper chose
-- An officer's private list ("not this person again") and previous helper, sealed: a link
-- between an officer and a helper is never in clear.
ALTER TABLE members ADD COLUMN private_ct BLOB;

CREATE TABLE supervision (
    supervisor_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    report_id     INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (supervisor_id, report_id),
    CHECK (supervisor_id <> report_id)
) STRICT;

ALTER TABLE requests ADD COLUMN preferred_helper INTEGER;
ALTER TABLE requests ADD COLUMN widened INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN paged_at TEXT;
ALTER TABLE requests ADD COLUMN gave_up_at TEXT;
ALTER TABLE requests ADD COLUMN first_status_at TEXT;
ALTER TABLE requests ADD COLUMN first_offer_at TEXT;
ALTER TABLE offers ADD COLUMN involved INTEGER NOT NULL DEFAULT 0;

-- Numbers only: no member, no request id, no time finer than the day.
CREATE TABLE request_metrics (
    id                  INTEGER PRIMARY KEY,
    day                 TEXT    NOT NULL,
    category            TEXT    NOT NULL,
    urgent              INTEGER NOT NULL,
    outcome             TEXT    NOT NULL CHECK (outcome IN ('matched', 'cancelled')),
    secs_to_status      REAL,
    secs_to_first_offer REAL,
    secs_to_accept      REAL,
    met_goal            INTEGER NOT NULL
) STRICT;
