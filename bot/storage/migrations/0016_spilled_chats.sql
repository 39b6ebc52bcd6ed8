-- v16: who had platform updates in hand that were confirmed early ("spilled", so that newer ones
-- could be fetched past a slow chat's backlog): one sealed address per person, written once per
-- spill and deleted once their spilled updates are handled. A row still here at start-up means
-- a stop cut them off, and the person is told. Ids only: no content, no time.
CREATE TABLE spilled_chats (
    id         TEXT PRIMARY KEY,
    address_ct BLOB NOT NULL
) STRICT;
