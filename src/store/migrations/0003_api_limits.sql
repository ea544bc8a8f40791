-- Tokens can expire; every job event is announced on 'kiln_events' (payload: the job id) so
-- SSE streams wait on LISTEN instead of polling.
ALTER TABLE kiln_tokens ADD COLUMN expires_at timestamptz;

CREATE FUNCTION kiln_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kiln_events', coalesce(NEW.job_id::text, ''));
  RETURN NULL;
END $$;
CREATE TRIGGER kiln_events_notify AFTER INSERT ON kiln_events
  FOR EACH ROW EXECUTE FUNCTION kiln_events_notify();

-- Database roles. kiln_node may claim and report jobs and write its own node row; it cannot
-- read or create API tokens. kiln_coordinator may do everything the service does. Both are
-- NOLOGIN groups: give each machine its own login role IN ROLE one of them (README). Roles
-- are cluster-wide, so another database may have made them already; a migrating user without
-- CREATEROLE skips them with a notice (an operator can create them and re-run the grants).
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['kiln_node', 'kiln_coordinator'] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN RAISE NOTICE 'cannot create role %: create it by hand (README)', r;
    END;
  END LOOP;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln_node') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO kiln_node', current_database());
    GRANT USAGE ON SCHEMA public TO kiln_node;
    GRANT SELECT, UPDATE ON kiln_jobs TO kiln_node;
    GRANT SELECT, INSERT ON kiln_events TO kiln_node;
    GRANT USAGE ON SEQUENCE kiln_events_id_seq TO kiln_node;
    GRANT SELECT, INSERT, UPDATE, DELETE ON kiln_nodes TO kiln_node;
    GRANT SELECT ON kiln_schema_migrations TO kiln_node;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln_coordinator') THEN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO kiln_coordinator', current_database());
    GRANT USAGE ON SCHEMA public TO kiln_coordinator;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kiln_coordinator;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kiln_coordinator;
  END IF;
END $$;
