-- DataHub request documents sent (RSM-015/016/017) and the answers that came back for them.
-- An answer Series names the request Series in originalTransactionIDReference_Series.mRID,
-- which is how a peeked document is linked to the request and its CorrelationId.
CREATE TABLE datahub_requests (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,               -- our document mRID
    series_id   TEXT NOT NULL,               -- our Series mRID (the transaction id)
    kind        TEXT NOT NULL,               -- validated | aggregated | wholesale
    format      TEXT NOT NULL DEFAULT '',    -- xml | json
    correlation TEXT NOT NULL DEFAULT '',    -- the 202's CorrelationId header
    status      TEXT NOT NULL DEFAULT 'new', -- new | accepted | refused | answered
    http_status INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',    -- the error object's code and message when refused
    detail      TEXT NOT NULL DEFAULT '{}',  -- period, metering point, grid area, ...
    created     INTEGER NOT NULL,
    answered    INTEGER,
    answer      TEXT NOT NULL DEFAULT '',    -- MessageId of the (latest) answer
    UNIQUE (source_id, message_id)
);
CREATE INDEX datahub_requests_series ON datahub_requests(series_id);
