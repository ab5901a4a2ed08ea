-- Who has texted us, counted instead of indexed: `inbox_by_sender` had an entry per message,
-- and each sender's insertion point is a page of its own, so a batch of inbound messages
-- from N senders dirtied N index pages (a WAL frame each). The count per sender packs many
-- senders into a page, is kept by triggers in the same statement as the insert or delete
-- (so it cannot drift from the inbox), and answers the first-contact check ("did this
-- number ever text us, and is its message still stored") exactly as the index did.
-- A migration that rebuilds `inbox` must recreate these triggers.
CREATE TABLE inbox_senders (
    sender   TEXT    NOT NULL PRIMARY KEY,
    messages INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO inbox_senders (sender, messages)
SELECT sender, COUNT(*) FROM inbox GROUP BY sender;

CREATE TRIGGER inbox_senders_insert AFTER INSERT ON inbox
BEGIN
    INSERT INTO inbox_senders (sender, messages) VALUES (NEW.sender, 1)
    ON CONFLICT (sender) DO UPDATE SET messages = messages + 1;
END;

CREATE TRIGGER inbox_senders_delete AFTER DELETE ON inbox
BEGIN
    UPDATE inbox_senders SET messages = messages - 1 WHERE sender = OLD.sender;
    DELETE FROM inbox_senders WHERE sender = OLD.sender AND messages <= 0;
END;

CREATE TRIGGER inbox_senders_update AFTER UPDATE OF sender ON inbox
WHEN NEW.sender IS NOT OLD.sender
BEGIN
    UPDATE inbox_senders SET messages = messages - 1 WHERE sender = OLD.sender;
    DELETE FROM inbox_senders WHERE sender = OLD.sender AND messages <= 0;
    INSERT INTO inbox_senders (sender, messages) VALUES (NEW.sender, 1)
    ON CONFLICT (sender) DO UPDATE SET messages = messages + 1;
END;

DROP INDEX inbox_by_sender;
