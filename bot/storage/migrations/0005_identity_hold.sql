-- v5: a helper whose Signal safety number changed gets no offers until a coordinator
-- confirms them again (roster reconfirm).
ALTER TABLE members ADD COLUMN identity_hold INTEGER NOT NULL DEFAULT 0 CHECK (identity_hold IN (0, 1));
