-- One live job per output: JobStore::submit looks a new job's output up among live jobs (under
-- a transaction lock on the output), so the lookup gets an index of its own.
CREATE INDEX kiln_jobs_live_output ON kiln_jobs ((spec->>'output'))
  WHERE state NOT IN ('completed', 'cancelled', 'discarded');
