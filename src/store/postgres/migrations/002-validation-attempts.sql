-- 002: validation Attempts, counted when the validation Lease is taken (as Items count theirs at claim), so
-- a Batch whose validation keeps failing inside spool, or keeps killing its process, ends failed after a
-- bounded number of tries instead of being retried every Lease period forever (issue 9). Mirrors
-- src/store/sqlite/migrations/002-validation-attempts.sql. A constant default: no table rewrite.
ALTER TABLE batches ADD COLUMN validation_attempts INTEGER NOT NULL DEFAULT 0 CHECK (validation_attempts >= 0);
