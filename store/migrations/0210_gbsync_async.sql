-- Green Button asynchronous custodians and customer authorizations: the requests a custodian
-- answered 202 to (one outstanding per resource, so that Custody does not ask again while the
-- custodian prepares it), the correlation id of each notified URI (to fetch each prepared
-- file once), and what the custodian says about the authorizations the source holds.

CREATE TABLE gbsync_requests (
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    resource    TEXT NOT NULL,               -- path under the base URL, such as Batch/Bulk/50916
    requested   INTEGER NOT NULL,            -- unix seconds: when the request the custodian answered 202 to was made
    window_min  INTEGER NOT NULL DEFAULT 0,  -- its published-min (0: none)
    window_max  INTEGER NOT NULL DEFAULT 0,  -- its published-max (0: none)
    correlation TEXT NOT NULL DEFAULT '',    -- the correlation id the custodian echoed (x-transaction), if it did
    PRIMARY KEY (source_id, resource)
);

ALTER TABLE gbsync_notified ADD COLUMN correlation TEXT NOT NULL DEFAULT '';
CREATE INDEX gbsync_notified_correlation ON gbsync_notified (source_id, correlation) WHERE correlation <> '';

CREATE TABLE gbsync_authorizations (
    source_id     INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    uri           TEXT NOT NULL,             -- the Authorization's authorizationURI (or self link)
    resource_uri  TEXT NOT NULL DEFAULT '',  -- what it lets the third party GET
    title         TEXT NOT NULL DEFAULT '',  -- the custodian's name for it (often the customer)
    scope         TEXT NOT NULL DEFAULT '',  -- the scope granted
    status        INTEGER NOT NULL,          -- ESPI: 0 revoked, 1 active, 2 denied; 3 expired (by expires_at)
    changed       INTEGER NOT NULL,          -- unix seconds: when the status was first seen as it is
    PRIMARY KEY (source_id, uri)
);
