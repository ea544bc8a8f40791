-- Alert delivery from a cursor per receiver instead of a delivery row per (event, receiver).
--
-- Event ids come from a sequence at INSERT time, so they are not in commit order: a reader that
-- moved a cursor past id 11 could later see id 10 commit and skip it. Events therefore get a
-- second number, `seq`, assigned after they are committed by one sequencer at a time (under an
-- advisory lock, see EventStore::sequence_events); seq order is the order deliveries follow.
ALTER TABLE kiln_events ADD COLUMN seq bigint;
CREATE SEQUENCE kiln_event_seq;
UPDATE kiln_events SET seq = id;
SELECT setval('kiln_event_seq', greatest((SELECT max(id) FROM kiln_events), 1));
CREATE UNIQUE INDEX kiln_events_seq ON kiln_events (seq);
CREATE INDEX kiln_events_kind_seq ON kiln_events (kind, seq);
CREATE INDEX kiln_events_unsequenced ON kiln_events (id) WHERE seq IS NULL;
CREATE INDEX kiln_events_created ON kiln_events (created_at);
-- Retention of finished jobs.
CREATE INDEX kiln_jobs_finalized ON kiln_jobs (finalized_at)
  WHERE state IN ('completed', 'cancelled', 'discarded');

-- One row per receiver: the seq of the last event it got (or that was dead-lettered), and the
-- failed tries of the next one. A coordinator delivers for a receiver only while it holds this
-- row's lock (FOR UPDATE SKIP LOCKED), so each (event, receiver) is sent by one coordinator.
CREATE TABLE kiln_receivers (
  name            text PRIMARY KEY,
  cursor          bigint NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- Deliveries given up after the configured number of tries. No foreign key: a dead letter
-- outlives its event's retention only until the same retention chore removes it.
CREATE TABLE kiln_dead_letters (
  event_id   bigint NOT NULL,
  receiver   text NOT NULL,
  kind       text NOT NULL,
  job_id     bigint,
  attempts   integer NOT NULL,
  last_error text NOT NULL DEFAULT '',
  dead_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, receiver)
);
CREATE INDEX kiln_dead_letters_at ON kiln_dead_letters (dead_at);

DROP TABLE kiln_deliveries;

-- The roles of 0003 were granted the tables that existed then; the coordinator's group needs
-- the new ones too (nodes only insert events; the coordinator numbers them).
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln_coordinator') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON kiln_receivers, kiln_dead_letters TO kiln_coordinator;
    GRANT USAGE, SELECT, UPDATE ON SEQUENCE kiln_event_seq TO kiln_coordinator;
  END IF;
END $$;
