-- Contract archive (SQLite). Paired with migrations/postgres/0025_contract_documents.sql,
-- which explains the table.
CREATE TABLE contract_documents (
    id           BLOB PRIMARY KEY NOT NULL,
    contract_id  BLOB NOT NULL REFERENCES contracts(id),
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    size_bytes   INTEGER NOT NULL CHECK (size_bytes > 0),
    content_type TEXT NOT NULL,
    filename     TEXT NOT NULL,
    title        TEXT,
    signed_on    TEXT,
    sealed       INTEGER NOT NULL,
    uploaded_by  BLOB REFERENCES users(id),
    uploaded_at  TEXT NOT NULL,
    UNIQUE (contract_id, sha256)
);
CREATE INDEX contract_documents_signed ON contract_documents(signed_on, id);
