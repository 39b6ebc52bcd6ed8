-- v6: the roster's everyday tools: coordinator rights for any member (a senior peer may also
-- coordinate), and invites made by `roster import` carry a display name, topics and a supervisor.
ALTER TABLE members ADD COLUMN coordinator INTEGER NOT NULL DEFAULT 0 CHECK (coordinator IN (0, 1));
ALTER TABLE invites ADD COLUMN display_name TEXT NOT NULL DEFAULT '' CHECK (length(display_name) <= 40);
ALTER TABLE invites ADD COLUMN topics TEXT NOT NULL DEFAULT '';
ALTER TABLE invites ADD COLUMN supervisor_id INTEGER REFERENCES members (id) ON DELETE SET NULL;
