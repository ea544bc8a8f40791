-- Jobs, their events (the outbox), deliveries of events to receivers, and nodes.
-- States follow River's names; see include/kiln/job.hpp for what each means.

CREATE TYPE kiln_job_state AS ENUM
  ('pending', 'scheduled', 'available', 'running', 'retryable', 'completed', 'cancelled', 'discarded');

CREATE TABLE kiln_jobs (
  id               bigserial PRIMARY KEY,
  state            kiln_job_state NOT NULL DEFAULT 'available',
  priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -50 AND 50),  -- higher first
  queue            text NOT NULL DEFAULT 'default',
  attempt          integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  scheduled_at     timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz,
  heartbeat_at     timestamptz,
  node             text,
  idempotency_key  text,
  spec             jsonb NOT NULL,
  input_info       jsonb,
  progress         jsonb NOT NULL DEFAULT '{}',
  output           jsonb,
  errors           jsonb NOT NULL DEFAULT '[]',
  cancel_requested boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  attempted_at     timestamptz,
  finalized_at     timestamptz
);

-- Resubmitting with the same key returns the live job instead of making a second one.
CREATE UNIQUE INDEX kiln_jobs_idempotency ON kiln_jobs (idempotency_key)
  WHERE idempotency_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded');
-- The claim path: the next due job of a queue, most urgent first.
CREATE INDEX kiln_jobs_claim ON kiln_jobs (queue, priority DESC, scheduled_at, id)
  WHERE state IN ('available', 'scheduled', 'retryable');
-- The reaper: running jobs whose lease ran out.
CREATE INDEX kiln_jobs_lease ON kiln_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX kiln_jobs_state ON kiln_jobs (state, id);

CREATE TABLE kiln_events (
  id         bigserial PRIMARY KEY,
  job_id     bigint REFERENCES kiln_jobs (id) ON DELETE CASCADE,
  kind       text NOT NULL,
  payload    jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kiln_events_job ON kiln_events (job_id, id);

CREATE TABLE kiln_deliveries (
  event_id        bigint NOT NULL REFERENCES kiln_events (id) ON DELETE CASCADE,
  receiver        text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  last_error      text,
  PRIMARY KEY (event_id, receiver)
);
CREATE INDEX kiln_deliveries_due ON kiln_deliveries (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE kiln_nodes (
  name         text PRIMARY KEY,
  devices      jsonb NOT NULL DEFAULT '[]',
  capacity     integer NOT NULL DEFAULT 1,
  state        text NOT NULL DEFAULT 'up',   -- up, draining, lost
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
