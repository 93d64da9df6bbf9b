-- 006: Batches of the Anthropic dialect (issue 16): the dialect CHECK of 001 gains 'anthropic'. The
-- constraint carries PostgreSQL's default name for a column CHECK (<table>_<column>_check).
ALTER TABLE batches DROP CONSTRAINT batches_dialect_check;
ALTER TABLE batches ADD CONSTRAINT batches_dialect_check CHECK (dialect IN ('openai', 'gemini', 'anthropic'));
