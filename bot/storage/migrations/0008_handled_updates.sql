-- v8: ids of platform updates handled above the confirm point while a chat is stuck, so a crash
-- does not replay other chats' messages. Ids only: no content, no chat, no time.
CREATE TABLE handled_updates (
    platform TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    PRIMARY KEY (platform, update_id)
) WITHOUT ROWID;
