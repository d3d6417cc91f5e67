-- Facts about the database itself. database_id is a random id made when the database is
-- created (or first opened by a Custody that knows this table): the OS keyring's items of this
-- database are named by it, so that two databases with a source of the same name never share,
-- overwrite or delete each other's secrets.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))));
