-- v9: clock metrics also count what the program reports on: whether a request was widened to
-- the other helper role, whether coordinators were paged, and whether it was a hand-over or a
-- referral to a clinician. Numbers on the same anonymous row: no member, no request, no time.
ALTER TABLE request_metrics ADD COLUMN widened INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_metrics ADD COLUMN paged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_metrics ADD COLUMN handover INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_metrics ADD COLUMN referral INTEGER NOT NULL DEFAULT 0;
