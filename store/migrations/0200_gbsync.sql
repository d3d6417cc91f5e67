-- Green Button connected sync: how far each source's resources have been fetched, and the
-- URIs BatchList notifications named (to fetch each once, and to show what was refused).

CREATE TABLE gbsync_cursors (
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,               -- path under the base URL, such as Batch/Bulk/50916
    fetched     INTEGER NOT NULL,            -- unix seconds: when the last complete answer was asked for
    PRIMARY KEY (source_id, resource)
);

CREATE TABLE gbsync_notified (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    payload_id  INTEGER REFERENCES payloads(id) ON DELETE SET NULL, -- the BatchList that named it
    uri         TEXT NOT NULL,
    status      TEXT NOT NULL,               -- pending | fetched | refused | failed
    error       TEXT NOT NULL DEFAULT '',
    received    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    UNIQUE (source_id, uri)
);
