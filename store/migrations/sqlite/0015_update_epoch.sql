-- Live updates: how many updates changed the call. A handler answer worked out under an
-- older epoch is dropped; every replica reads and bumps this one counter, so the ordering
-- holds whichever replica made the update and whichever answered the event. 0 for every
-- call stored before.
ALTER TABLE calls ADD COLUMN update_epoch INTEGER NOT NULL DEFAULT 0;
