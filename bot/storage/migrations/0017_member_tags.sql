-- v17: a change tag per member, kept by SQLite itself: a random number drawn again whenever the
-- member's row or one of their supervision links changes, whoever writes (the bot, the CLI in
-- another process). The bot's in-memory list of verified members then re-reads only the rows
-- whose tag differs from the one it last saw (bot/storage/membercache.py). Random, not a
-- counter: a sequence number per row would order the members' last changes (an offer, an
-- accepted conversation, a block) in the clear; a random tag says nothing but "changed since
-- a copy of the file that had another one". The tags of every 64 members by number are summed
-- in member_tag_buckets, so finding the changed rows reads the sums and one bucket's tags, not
-- every tag. Tags are 44-bit (random() >> 20), so a sum of 64 never overflows.
CREATE TABLE member_tags (
    id  INTEGER PRIMARY KEY,  -- members.id
    tag INTEGER NOT NULL
) STRICT;

CREATE TABLE member_tag_buckets (
    bucket INTEGER PRIMARY KEY,  -- members.id >> 6
    digest INTEGER NOT NULL      -- the sum of the bucket's tags
) STRICT;

CREATE TRIGGER member_tag_bucket_insert AFTER INSERT ON member_tags BEGIN
    INSERT OR IGNORE INTO member_tag_buckets (bucket, digest) VALUES (NEW.id >> 6, 0);
    UPDATE member_tag_buckets SET digest = digest + NEW.tag WHERE bucket = NEW.id >> 6;
END;

CREATE TRIGGER member_tag_bucket_update AFTER UPDATE ON member_tags BEGIN
    UPDATE member_tag_buckets SET digest = digest - OLD.tag WHERE bucket = OLD.id >> 6;
    INSERT OR IGNORE INTO member_tag_buckets (bucket, digest) VALUES (NEW.id >> 6, 0);
    UPDATE member_tag_buckets SET digest = digest + NEW.tag WHERE bucket = NEW.id >> 6;
END;

CREATE TRIGGER member_tag_bucket_delete AFTER DELETE ON member_tags BEGIN
    UPDATE member_tag_buckets SET digest = digest - OLD.tag WHERE bucket = OLD.id >> 6;
END;

INSERT INTO member_tags (id, tag) SELECT id, random() >> 20 FROM members;

-- Never INSERT OR REPLACE into member_tags: a row replaced that way fires no delete trigger,
-- and its bucket's sum would keep the old tag.
CREATE TRIGGER member_tag_insert AFTER INSERT ON members BEGIN
    DELETE FROM member_tags WHERE id = NEW.id;
    INSERT INTO member_tags (id, tag) VALUES (NEW.id, random() >> 20);
END;

CREATE TRIGGER member_tag_update AFTER UPDATE ON members BEGIN
    DELETE FROM member_tags WHERE id = OLD.id AND OLD.id IS NOT NEW.id;
    INSERT OR IGNORE INTO member_tags (id, tag) VALUES (NEW.id, 0);
    UPDATE member_tags SET tag = random() >> 20 WHERE id = NEW.id;
END;

CREATE TRIGGER member_tag_delete AFTER DELETE ON members BEGIN
    DELETE FROM member_tags WHERE id = OLD.id;
END;

-- A member's MAC covers their supervision links: a link added or removed re-reads both.
-- UPDATE, never INSERT: a link deleted with its member must not leave a tag behind.
CREATE TRIGGER member_tag_link_insert AFTER INSERT ON supervision BEGIN
    UPDATE member_tags SET tag = random() >> 20 WHERE id IN (NEW.supervisor_id, NEW.report_id);
END;

CREATE TRIGGER member_tag_link_update AFTER UPDATE ON supervision BEGIN
    UPDATE member_tags SET tag = random() >> 20
     WHERE id IN (OLD.supervisor_id, OLD.report_id, NEW.supervisor_id, NEW.report_id);
END;

CREATE TRIGGER member_tag_link_delete AFTER DELETE ON supervision BEGIN
    UPDATE member_tags SET tag = random() >> 20 WHERE id IN (OLD.supervisor_id, OLD.report_id);
END;
