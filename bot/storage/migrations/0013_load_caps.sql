-- v13: a helper's own cap on conversations at once (/load), at or under the program's.
-- NULL: the program's cap ([routing] max_threads_per_helper).
ALTER TABLE members ADD COLUMN max_threads INTEGER CHECK (max_threads >= 1);
