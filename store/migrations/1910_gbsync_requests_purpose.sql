-- Green Button asynchronous custodians that echo no correlation id: every request a custodian
-- answered 202 to is outstanding — a sync's (one per resource), a backfill's and a test's (one
-- per window) — so that an answer is matched to the request it answers, not to another one
-- for the same resource. `earliest` is the earliest request whose answer the row may stand
-- for (a request made again after a timeout stands also for the one it replaced). Answers
-- that could not be matched to one request yet are kept in gbsync_answers and counted.

CREATE TABLE gbsync_requests_v2 (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,               -- path under the base URL, such as Batch/Bulk/50916
    purpose     TEXT NOT NULL DEFAULT 'sync', -- sync, backfill or test
    requested   INTEGER NOT NULL,            -- unix seconds: when the request the custodian answered 202 to was made
    earliest    INTEGER NOT NULL,            -- unix seconds: the earliest request whose answer this one may receive
    window_min  INTEGER NOT NULL DEFAULT 0,  -- its published-min (0: none)
    window_max  INTEGER NOT NULL DEFAULT 0,  -- its published-max (0: none)
    correlation TEXT NOT NULL DEFAULT '',    -- the correlation id the custodian echoed (x-transaction), if it did
    UNIQUE (source_id, resource, purpose, window_min, window_max)
);
INSERT INTO gbsync_requests_v2 (source_id, resource, purpose, requested, earliest, window_min, window_max, correlation)
    SELECT source_id, resource, 'sync', requested, requested, window_min, window_max, correlation FROM gbsync_requests;
DROP TABLE gbsync_requests;
ALTER TABLE gbsync_requests_v2 RENAME TO gbsync_requests;

CREATE TABLE gbsync_answers (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    resource  TEXT NOT NULL,   -- the resource the answer is for
    uri       TEXT NOT NULL,   -- the notified URI fetched
    received  INTEGER NOT NULL -- unix seconds
);
CREATE INDEX gbsync_answers_resource ON gbsync_answers (source_id, resource);
