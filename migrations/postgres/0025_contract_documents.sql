-- Contract archive (PostgreSQL). Paired with migrations/sqlite/0025_contract_documents.sql.
--
-- A contract's signed documents. The bytes live in the blob store under their SHA-256
-- (content-addressed: the same PDF uploaded twice is stored once); this row says which
-- contract holds it, what it is and whether the stored bytes are sealed (AES-256-GCM, when
-- the operator configured a documents key at upload time: reading them needs that key).
CREATE TABLE contract_documents (
    id           uuid PRIMARY KEY,
    contract_id  uuid NOT NULL REFERENCES contracts(id),
    sha256       text NOT NULL CHECK (length(sha256) = 64),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    content_type text NOT NULL,
    filename     text NOT NULL,
    title        text,
    -- The day the document was signed (the archive is searched by it).
    signed_on    date,
    sealed       boolean NOT NULL,
    uploaded_by  uuid REFERENCES users(id),
    uploaded_at  timestamptz NOT NULL,
    -- One contract holds a given file once; another contract may hold the same bytes.
    UNIQUE (contract_id, sha256)
);
CREATE INDEX contract_documents_signed ON contract_documents(signed_on, id);
