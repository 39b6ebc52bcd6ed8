-- v10: no clear column dates a match, a conversation or a person's activity.
-- A helper's routing times (last assigned, last offered, cool-down, away) are sealed together in
-- timing_ct; joining and redeeming keep the day only; a thread's opening time moves inside its
-- sealed record; clock metrics keep the week (its Monday) only. The dropped clear times cannot be
-- sealed here (SQL has no key): fairness history, cool-downs and /away holds restart empty.
ALTER TABLE members ADD COLUMN timing_ct BLOB;
ALTER TABLE members DROP COLUMN last_assigned_at;
ALTER TABLE members DROP COLUMN last_offered_at;
ALTER TABLE members DROP COLUMN cooldown_until;
ALTER TABLE members DROP COLUMN away_until;
UPDATE members SET joined_at = substr(joined_at, 1, 10);
UPDATE invites SET redeemed_at = substr(redeemed_at, 1, 10) WHERE redeemed_at IS NOT NULL;
ALTER TABLE threads DROP COLUMN opened_at;
ALTER TABLE request_metrics RENAME COLUMN day TO week;
UPDATE request_metrics SET week = date(week, '-6 days', 'weekday 1');
