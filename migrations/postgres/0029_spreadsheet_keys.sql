-- Spreadsheet import keys (PostgreSQL). Paired with migrations/sqlite/0029_spreadsheet_keys.sql.
--
-- Importing the office's spreadsheets (issue 15) must be idempotent: a row whose record exists
-- changes nothing. Assets have their code; the other lists get the key a spreadsheet carries:
-- - sites.code: the site's short code (upper-case, as asset codes), unique when set.
-- - customers.external_code: the customer's number in the system the list came from, unique
--   among live customers when set (without one, the legal name is the key).
-- - contracts.external_ref: the number a contract had in the file it was imported from. The
--   contract gets its own gapless number here; the file's number is kept so the same file
--   imported again finds it (a file exported from here carries our own number instead).
ALTER TABLE sites ADD COLUMN code text;
CREATE UNIQUE INDEX sites_code ON sites(code) WHERE code IS NOT NULL;
ALTER TABLE customers ADD COLUMN external_code text;
CREATE UNIQUE INDEX customers_external_code ON customers(external_code)
    WHERE external_code IS NOT NULL AND deleted_at IS NULL;
ALTER TABLE contracts ADD COLUMN external_ref text;
CREATE UNIQUE INDEX contracts_external_ref ON contracts(external_ref) WHERE external_ref IS NOT NULL;
