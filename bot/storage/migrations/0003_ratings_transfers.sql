-- v3: anonymous conversation ratings, referrals to clinicians, and hand-overs (transfers).
CREATE TABLE ratings (
    id     INTEGER PRIMARY KEY,
    score  INTEGER CHECK (score BETWEEN 1 AND 5),
    helped TEXT CHECK (helped IN ('yes', 'no', 'unsure'))
) STRICT;

-- Rebuilt (SQLite cannot alter a CHECK) to admit referrals to a clinician, and to record the
-- live thread a hand-over request replaces.
CREATE TABLE requests_v3 (
    id               TEXT    PRIMARY KEY,
    officer_ct       BLOB    NOT NULL,
    category         TEXT    NOT NULL,
    wanted           TEXT    NOT NULL
                     CHECK (wanted IN ('peer', 'chaplain', 'clinician', 'either')),
    outside_agency   INTEGER NOT NULL CHECK (outside_agency IN (0, 1)),
    urgent           INTEGER NOT NULL CHECK (urgent IN (0, 1)),
    created_at       TEXT    NOT NULL,
    preferred_helper INTEGER,
    widened          INTEGER NOT NULL DEFAULT 0,
    paged_at         TEXT,
    gave_up_at       TEXT,
    first_status_at  TEXT,
    first_offer_at   TEXT,
    transfer_thread  TEXT
) STRICT;
INSERT INTO requests_v3 (id, officer_ct, category, wanted, outside_agency, urgent, created_at,
    preferred_helper, widened, paged_at, gave_up_at, first_status_at, first_offer_at)
SELECT id, officer_ct, category, wanted, outside_agency, urgent, created_at,
    preferred_helper, widened, paged_at, gave_up_at, first_status_at, first_offer_at
FROM requests;
DROP TABLE requests;
ALTER TABLE requests_v3 RENAME TO requests;
