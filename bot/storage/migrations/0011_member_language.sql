-- v11: each member's language (a catalog code such as "en" or "es"), from their app at join or
-- /language; NULL means the program's default language.
ALTER TABLE members ADD COLUMN language TEXT;
