-- The status exactly as the provider named it, kept beside the neutral one when they
-- differ (Telnyx `delivery_unconfirmed` → `unknown`, `sending_failed` → `failed`, …).
ALTER TABLE receipt_history ADD COLUMN provider_status TEXT;
