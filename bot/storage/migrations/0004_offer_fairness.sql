-- v4: when a helper was last offered a request, so offers rotate among equally ranked helpers
-- instead of always starting with the earliest to join.
ALTER TABLE members ADD COLUMN last_offered_at TEXT;
