-- The web console: browser sessions (a token exchanged for a cookie), resumable uploads (tus
-- and presigned S3 multipart), and a notification for every change a job list shows, so the
-- console's live list waits on LISTEN instead of polling.

-- A session is only as good as the token it came from: revoking or expiring the token ends it
-- (the lookup joins kiln_tokens). Only the cookie's SHA-256 is stored.
CREATE TABLE kiln_sessions (
  hash       bytea PRIMARY KEY,
  token_id   bigint NOT NULL REFERENCES kiln_tokens (id) ON DELETE CASCADE,
  csrf       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX kiln_sessions_expiry ON kiln_sessions (expires_at);

-- One row per upload. The bytes live in the upload location (file: a .part file whose size is
-- the offset; s3: the multipart upload `s3_upload_id`). `state`: receiving -> checking (one
-- request won the completion) -> done (job_id set) or refused (error says why).
CREATE TABLE kiln_uploads (
  id           text PRIMARY KEY,
  location     text NOT NULL,
  key          text NOT NULL,            -- the file's path inside the location, once complete
  filename     text NOT NULL,
  filetype     text NOT NULL DEFAULT '',
  length       bigint NOT NULL CHECK (length > 0),
  spec         jsonb NOT NULL,           -- the job to submit when the upload completes
  state        text NOT NULL DEFAULT 'receiving'
               CHECK (state IN ('receiving', 'checking', 'done', 'refused')),
  s3_upload_id text,
  job_id       bigint REFERENCES kiln_jobs (id) ON DELETE SET NULL,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX kiln_uploads_expiry ON kiln_uploads (expires_at) WHERE state = 'receiving';

-- 'kiln_job_changes' (payload: the job id) on every insert and on every update that changes
-- what a job list shows: state, progress (each heartbeat), node, attempt, output, errors, cancel.
CREATE FUNCTION kiln_job_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state OR NEW.progress IS DISTINCT FROM OLD.progress
     OR NEW.node IS DISTINCT FROM OLD.node OR NEW.attempt IS DISTINCT FROM OLD.attempt
     OR NEW.output IS DISTINCT FROM OLD.output OR NEW.errors IS DISTINCT FROM OLD.errors
     OR NEW.cancel_requested IS DISTINCT FROM OLD.cancel_requested
     OR NEW.input_info IS DISTINCT FROM OLD.input_info THEN
    PERFORM pg_notify('kiln_job_changes', NEW.id::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER kiln_job_changes_notify AFTER INSERT OR UPDATE ON kiln_jobs
  FOR EACH ROW EXECUTE FUNCTION kiln_job_changes_notify();

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln_coordinator') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON kiln_sessions, kiln_uploads TO kiln_coordinator;
  END IF;
END $$;
