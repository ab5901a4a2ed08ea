-- Answering-machine detection: who answered an outbound call (`human`, `machine`,
-- `machine_beep`, `machine_no_beep`, `fax`, `unknown`), the latest result the provider sent.
-- NULL for calls placed without detection, and for every call stored before.
ALTER TABLE calls ADD COLUMN answered_by TEXT;
