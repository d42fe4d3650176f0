-- API credentials. Only a SHA-256 of each token is kept; the token itself is shown once, at
-- creation. A name is never reused, also after revocation: it is the `actor` of what the token
-- recorded. Creation and revocation are kept with who did them and when.
CREATE TABLE api_tokens (
    name        text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('recorder', 'viewer', 'auditor', 'admin')),
    -- The org subtree the token may act in; NULL for the whole subdistrict.
    org_scope   text,
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    revoked_at  timestamptz,
    revoked_by  text
);
