-- v16: a change tag per member, kept by SQLite itself: a random number drawn again whenever the
-- member's row or one of their supervision links changes, whoever writes (the bot, the CLI in
-- another process). The bot's in-memory list of verified members then re-reads only the rows
-- whose tag differs from the one it last saw (bot/storage/membercache.py). Random, not a
-- counter: a sequence number per row would order the members' last changes (an offer, an
-- accepted conversation, a block) in the clear; a random tag says nothing but "changed since
-- a copy of the file that had another one".
CREATE TABLE member_tags (
    id  INTEGER PRIMARY KEY,  -- members.id
    tag INTEGER NOT NULL
) STRICT;

INSERT INTO member_tags (id, tag) SELECT id, random() FROM members;

CREATE TRIGGER member_tag_insert AFTER INSERT ON members BEGIN
    INSERT OR REPLACE INTO member_tags (id, tag) VALUES (NEW.id, random());
END;

CREATE TRIGGER member_tag_update AFTER UPDATE ON members BEGIN
    DELETE FROM member_tags WHERE id = OLD.id AND OLD.id IS NOT NEW.id;
    INSERT OR REPLACE INTO member_tags (id, tag) VALUES (NEW.id, random());
END;

CREATE TRIGGER member_tag_delete AFTER DELETE ON members BEGIN
    DELETE FROM member_tags WHERE id = OLD.id;
END;

-- A member's MAC covers their supervision links: a link added or removed re-reads both.
-- UPDATE, never INSERT: a link deleted with its member must not leave a tag behind.
CREATE TRIGGER member_tag_link_insert AFTER INSERT ON supervision BEGIN
    UPDATE member_tags SET tag = random() WHERE id IN (NEW.supervisor_id, NEW.report_id);
END;

CREATE TRIGGER member_tag_link_update AFTER UPDATE ON supervision BEGIN
    UPDATE member_tags SET tag = random()
     WHERE id IN (OLD.supervisor_id, OLD.report_id, NEW.supervisor_id, NEW.report_id);
END;

CREATE TRIGGER member_tag_link_delete AFTER DELETE ON supervision BEGIN
    UPDATE member_tags SET tag = random() WHERE id IN (OLD.supervisor_id, OLD.report_id);
END;
