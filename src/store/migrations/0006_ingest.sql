-- Ingest: uploads become jobs ([[watch]] rules in coordinator.toml; src/coordinator/ingest/).

-- The ledger: every upload a rule has seen, once per version. The primary key is the
-- idempotency key (rule, location, key, version): version is the ETag for S3 objects, size
-- and mtime for files. An event delivered twice, an event and a poll, or a restart all land on
-- the same row, and the row and its job are written in one transaction, so one upload makes
-- one job; a replaced object has a new version and makes a new one. job_id has no foreign
-- key: the ledger outlives job retention (a pruned job's upload must not look new).
CREATE TABLE kiln_ingest_ledger (
  rule      text NOT NULL,
  location  text NOT NULL,
  key       text NOT NULL,            -- relative to the location
  version   text NOT NULL,
  size      bigint NOT NULL DEFAULT 0,
  trigger   text NOT NULL,            -- event, poll, watch
  outcome   text NOT NULL CHECK (outcome IN ('job', 'refused')),
  job_id    bigint,
  reason    text NOT NULL DEFAULT '', -- refused: the API's code and message
  seen_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule, location, key, version)
);
-- The on-complete actions find a finished job's upload.
CREATE INDEX kiln_ingest_ledger_job ON kiln_ingest_ledger (job_id) WHERE job_id IS NOT NULL;

-- Per rule: where an interrupted bucket listing resumes (ListObjectsV2 start-after), so a
-- restart continues a long pass instead of listing the bucket from the start.
CREATE TABLE kiln_ingest_rules (
  rule         text PRIMARY KEY,
  scan_after   text NOT NULL DEFAULT '',
  passes       bigint NOT NULL DEFAULT 0,
  last_pass_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- GET /v1/jobs?inputLocation=&inputKey=: where a job's input lies, written at submission
-- (every job, not only ingested ones), served by an index in id order.
ALTER TABLE kiln_jobs ADD COLUMN input_location text, ADD COLUMN input_key text;
CREATE INDEX kiln_jobs_input ON kiln_jobs (input_location, input_key, id);
-- GET /v1/jobs?metadataKey=&metadataValue=: containment (@>) on the user's metadata.
CREATE INDEX kiln_jobs_metadata ON kiln_jobs USING gin ((spec -> 'metadata') jsonb_path_ops);

-- A token that may only post S3 event notifications (a store's webhook credential).
ALTER TABLE kiln_tokens DROP CONSTRAINT kiln_tokens_scope_check;
ALTER TABLE kiln_tokens ADD CONSTRAINT kiln_tokens_scope_check CHECK (scope IN ('submit', 'read', 'admin', 'ingest'));

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln_coordinator') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON kiln_ingest_ledger, kiln_ingest_rules TO kiln_coordinator;
  END IF;
END $$;
