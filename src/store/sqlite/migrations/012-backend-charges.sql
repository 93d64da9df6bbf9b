-- 012: what a Batch's Items were charged (issue 12, part 5; docs/decisions/0022-backends-by-price-and-deadline.md).
-- A Model with several backends charges each Item at the price of the backend that ran it, so a Batch's
-- cost is no longer its token usage times one price: the Store sums the charges as it sums usage, in the
-- same statement that records the Items. Nano-USD in integers (a cheap model's Item is a few thousand);
-- `charged_nano_usd` at the Batch price (after the backend's batchDiscount), `charged_list_nano_usd` at
-- list price (the sync equivalent). Models with one backend keep 0 here and are priced from usage.
-- Numbered 012: 010, 011 and 013 are other changes written side by side.
ALTER TABLE batches ADD COLUMN charged_nano_usd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN charged_list_nano_usd BIGINT NOT NULL DEFAULT 0;
