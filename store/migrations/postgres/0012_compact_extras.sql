-- Smaller inbox rows: the provider's extra parameters are stored in the compact encoding of
-- store/src/extras.rs (a version byte, then dictionary-coded entries) instead of JSON text.
-- Rows stored before keep their JSON, as its UTF-8 bytes; the store reads both (a JSON
-- object starts with `{`, the compact form with its version byte).
ALTER TABLE inbox ALTER COLUMN extra_json DROP DEFAULT;
ALTER TABLE inbox ALTER COLUMN extra_json TYPE BYTEA USING convert_to(extra_json, 'UTF8');
ALTER TABLE inbox ALTER COLUMN extra_json SET DEFAULT '\x01'::bytea;
