-- 003: the Item's client id under its domain name (the column was named after OpenAI's wire field).
ALTER TABLE items RENAME COLUMN custom_id TO client_id;
