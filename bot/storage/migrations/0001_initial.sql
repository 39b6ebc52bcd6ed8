-- v1: members, invites, open requests and offers, live threads.
-- No column can hold message content. Platform ids are stored only as AEAD ciphertext plus a
-- keyed hash for lookup; links between an officer and a helper are sealed (requests) or sealed
-- under the thread's own key (threads), so deleting a wrapped key shreds the link.
CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    platform         TEXT    NOT NULL CHECK (platform IN ('telegram', 'signal')),
    address_hash     BLOB    NOT NULL UNIQUE,
    address_ct       BLOB    NOT NULL,
    role             TEXT    NOT NULL
                     CHECK (role IN ('officer', 'peer', 'chaplain', 'clinician', 'coordinator')),
    agency_hash      BLOB,
    agency_ct        BLOB,
    display_name     TEXT    NOT NULL DEFAULT '' CHECK (length(display_name) <= 40),
    available        INTEGER NOT NULL DEFAULT 0 CHECK (available IN (0, 1)),
    certified_until  TEXT,
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    joined_at        TEXT    NOT NULL,
    last_assigned_at TEXT
) STRICT;

CREATE TABLE invites (
    code_hash       BLOB PRIMARY KEY,
    role            TEXT NOT NULL
                    CHECK (role IN ('officer', 'peer', 'chaplain', 'clinician', 'coordinator')),
    agency_hash     BLOB,
    agency_ct       BLOB,
    certified_until TEXT,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    redeemed_at     TEXT
) STRICT;

CREATE TABLE requests (
    id             TEXT    PRIMARY KEY,
    officer_ct     BLOB    NOT NULL,
    category       TEXT    NOT NULL,
    wanted         TEXT    NOT NULL CHECK (wanted IN ('peer', 'chaplain', 'either')),
    outside_agency INTEGER NOT NULL CHECK (outside_agency IN (0, 1)),
    urgent         INTEGER NOT NULL CHECK (urgent IN (0, 1)),
    created_at     TEXT    NOT NULL
) STRICT;

CREATE TABLE offers (
    request_id  TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    helper_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    state       TEXT    NOT NULL
                CHECK (state IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    sent_at     TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    message_ct  BLOB,
    PRIMARY KEY (request_id, helper_id)
) STRICT;

CREATE TABLE threads (
    id          TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL,
    sealed      BLOB NOT NULL,
    opened_at   TEXT NOT NULL
) STRICT;
