-- Paired with migrations/sqlite/0017_user_locale.sql: the console language a user chose
-- ('en' | 'zh-CN', checked in domain/src/users.rs); NULL = follow the browser.
ALTER TABLE users ADD COLUMN locale TEXT;
