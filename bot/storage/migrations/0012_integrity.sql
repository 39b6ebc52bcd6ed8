-- v12: integrity at rest: a check value of the master key (a keyed hash of a constant, never the
-- key), and MACs over the clear columns that decide who may do what. Existing rows get their
-- MACs (and member-bound sealed addresses) from the key, in the same transaction, at upgrade.
CREATE TABLE key_check (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BLOB    NOT NULL
) STRICT;
ALTER TABLE members ADD COLUMN mac BLOB;
ALTER TABLE invites ADD COLUMN mac BLOB;
