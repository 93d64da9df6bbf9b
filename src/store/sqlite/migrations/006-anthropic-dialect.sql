-- 006: Batches of the Anthropic dialect (issue 16). SQLite cannot alter a CHECK constraint, so the column is
-- replaced rather than the table rebuilt: a rebuild would have to list every column of batches, and would
-- silently drop any column a migration numbered before this one added (005 was being written beside it).
-- Renaming the column carries its CHECK along; dropping the renamed column drops that CHECK with it. Indexes,
-- the items -> batches foreign key, AUTOINCREMENT and every other column stay as they are. The DEFAULT only
-- satisfies ADD COLUMN's NOT NULL rule: every row is set from the old column, and spool always names one.
ALTER TABLE batches RENAME COLUMN dialect TO dialect_before_006;
ALTER TABLE batches ADD COLUMN dialect TEXT NOT NULL DEFAULT 'openai' CHECK (dialect IN ('openai', 'gemini', 'anthropic'));
UPDATE batches SET dialect = dialect_before_006;
ALTER TABLE batches DROP COLUMN dialect_before_006;
