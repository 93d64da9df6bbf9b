-- 008: measured throughput per Model (issue 12; docs/decisions/0017-fair-share-deadlines-sched.md). Numbered
-- 008: 005-007 are taken by other changes.
--
-- Each process's Worker lanes write the rate at which they finish a Model's Items while busy, every couple
-- of seconds (recordThroughput); readers sum the rows of the latest round (modelThroughput). The scheduler
-- needs the deployment's capacity, not one process's, to size deadline reservations and to judge whether a
-- Batch can wait for off-peak hours; progress reads need it for the ETA in processes that run no Worker.
-- One small row per (Model, process); rows of processes gone for a day are deleted by the next write.
CREATE TABLE model_throughput (
  model            TEXT    NOT NULL,
  owner            TEXT    NOT NULL,
  items_per_second DOUBLE PRECISION NOT NULL CHECK (items_per_second >= 0),
  measured_at_ms   BIGINT  NOT NULL,
  PRIMARY KEY (model, owner)
);
