-- API bearer tokens, stored as SHA-256 hashes; the token itself is shown once at creation.
CREATE TABLE kiln_tokens (
  id         bigserial PRIMARY KEY,
  hash       bytea NOT NULL UNIQUE,
  scope      text NOT NULL CHECK (scope IN ('submit', 'read', 'admin')),
  note       text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
