-- v14: members and invites admit two more roles: 'family' (a spouse or immediate family of an
-- officer) and 'retiree' (a retired officer). SQLite cannot alter a CHECK, so both tables are
-- rebuilt with every column, in the same order, and their rows copied as they are (MACs
-- included: nothing they cover changes). The runner turns foreign keys off for the step and
-- checks them before it commits; supervision, offers, followup_prefs and invites.supervisor_id
-- keep pointing at the same member numbers. Clock metrics also note who asked.
CREATE TABLE members_v14 (
    id               INTEGER PRIMARY KEY,
    platform         TEXT    NOT NULL CHECK (platform IN ('telegram', 'signal')),
    address_hash     BLOB    NOT NULL UNIQUE,
    address_ct       BLOB    NOT NULL,
    role             TEXT    NOT NULL
                     CHECK (role IN ('officer', 'family', 'retiree', 'peer', 'chaplain',
                                     'clinician', 'coordinator')),
    agency_hash      BLOB,
    agency_ct        BLOB,
    display_name     TEXT    NOT NULL DEFAULT '' CHECK (length(display_name) <= 40),
    available        INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1)),
    certified_until  TEXT,
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    joined_at        TEXT    NOT NULL,
    timezone         TEXT,
    on_call          TEXT,
    ignored_offers   INTEGER NOT NULL DEFAULT 0,
    topics           TEXT    NOT NULL DEFAULT '',
    private_ct       BLOB,
    identity_hold    INTEGER NOT NULL DEFAULT 0 CHECK (identity_hold IN (0, 1)),
    coordinator      INTEGER NOT NULL DEFAULT 0 CHECK (coordinator IN (0, 1)),
    timing_ct        BLOB,
    language         TEXT,
    mac              BLOB,
    max_threads      INTEGER CHECK (max_threads >= 1)
) STRICT;
INSERT INTO members_v14 (id, platform, address_hash, address_ct, role, agency_hash, agency_ct,
    display_name, available, certified_until, active, joined_at, timezone, on_call,
    ignored_offers, topics, private_ct, identity_hold, coordinator, timing_ct, language, mac,
    max_threads)
SELECT id, platform, address_hash, address_ct, role, agency_hash, agency_ct,
    display_name, available, certified_until, active, joined_at, timezone, on_call,
    ignored_offers, topics, private_ct, identity_hold, coordinator, timing_ct, language, mac,
    max_threads
FROM members;
DROP TABLE members;
ALTER TABLE members_v14 RENAME TO members;

CREATE TABLE invites_v14 (
    code_hash       BLOB PRIMARY KEY,
    role            TEXT NOT NULL
                    CHECK (role IN ('officer', 'family', 'retiree', 'peer', 'chaplain',
                                    'clinician', 'coordinator')),
    agency_hash     BLOB,
    agency_ct       BLOB,
    certified_until TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    redeemed_at     TEXT,
    display_name    TEXT NOT NULL DEFAULT '' CHECK (length(display_name) <= 40),
    topics          TEXT NOT NULL DEFAULT '',
    supervisor_id   INTEGER REFERENCES members (id) ON DELETE SET NULL,
    mac             BLOB
) STRICT;
INSERT INTO invites_v14 (code_hash, role, agency_hash, agency_ct, certified_until, created_at,
    expires_at, redeemed_at, display_name, topics, supervisor_id, mac)
SELECT code_hash, role, agency_hash, agency_ct, certified_until, created_at,
    expires_at, redeemed_at, display_name, topics, supervisor_id, mac
FROM invites;
DROP TABLE invites;
ALTER TABLE invites_v14 RENAME TO invites;

-- Who asked, as a group: no member, no request, no time finer than the week (as before).
ALTER TABLE request_metrics ADD COLUMN asker TEXT NOT NULL DEFAULT 'officer'
    CHECK (asker IN ('officer', 'family', 'retiree', 'helper'));
