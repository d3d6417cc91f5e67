-- The first schema: every table the foundation knows about. Later migrations add to it;
-- a migration is never edited once it has landed on main.

CREATE TABLE sources (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,               -- greenbutton | obevents | datahub | file
    enabled     INTEGER NOT NULL DEFAULT 1,
    config      TEXT NOT NULL DEFAULT '{}',  -- JSON of non-secret settings only
    created     INTEGER NOT NULL,            -- unix seconds
    updated     INTEGER NOT NULL
);

-- A meter is a metering point: an ESPI UsagePoint or a DataHub metering point.
CREATE TABLE meters (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,        -- stable identifier from the source (href or GSRN)
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    name        TEXT NOT NULL DEFAULT '',
    commodity   TEXT NOT NULL DEFAULT '',
    time_zone   TEXT NOT NULL DEFAULT '',    -- IANA name or fixed offset such as -08:00
    attrs       TEXT NOT NULL DEFAULT '{}',
    updated     INTEGER NOT NULL
);

-- A series is one stream of like readings: one direction, one unit, one interval length.
CREATE TABLE series (
    id          INTEGER PRIMARY KEY,
    meter_id    INTEGER NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    commodity   TEXT NOT NULL DEFAULT '',
    flow        TEXT NOT NULL DEFAULT '',
    unit        TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT '',    -- energy, power, volume, temperature, ...
    seconds     INTEGER NOT NULL DEFAULT 0,  -- nominal interval length
    currency    TEXT NOT NULL DEFAULT '',
    attrs       TEXT NOT NULL DEFAULT '{}',
    updated     INTEGER NOT NULL,
    UNIQUE (meter_id, key)
);

-- Readings are the hot table: a compact WITHOUT ROWID layout keyed by (series, start).
-- value is NULL for a reading the source reports as missing; it is never invented as 0.
CREATE TABLE readings (
    series_id   INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    start       INTEGER NOT NULL,            -- unix seconds, UTC
    seconds     INTEGER NOT NULL,
    value       REAL,
    quality     TEXT,
    cost        REAL,
    tou         INTEGER,
    PRIMARY KEY (series_id, start)
) WITHOUT ROWID;

CREATE TABLE usage_summaries (
    id          INTEGER PRIMARY KEY,
    meter_id    INTEGER NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    period_start    INTEGER NOT NULL,
    period_seconds  INTEGER NOT NULL DEFAULT 0,
    bill_last_period REAL,
    bill_to_date     REAL,
    cost_additional_last_period REAL,
    currency    TEXT NOT NULL DEFAULT '',
    status_time INTEGER,
    attrs       TEXT NOT NULL DEFAULT '{}',
    updated     INTEGER NOT NULL,
    UNIQUE (meter_id, key, period_start)
);

CREATE TABLE summary_line_items (
    summary_id  INTEGER NOT NULL REFERENCES usage_summaries(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    amount      REAL,
    item_kind   TEXT NOT NULL DEFAULT '',
    measurement REAL,
    unit        TEXT NOT NULL DEFAULT '',
    attrs       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (summary_id, position)
) WITHOUT ROWID;

-- Personal data (RetailCustomer, CustomerAccount, ServiceLocation, ...): stored and shown,
-- never logged.
CREATE TABLE customer_info (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL UNIQUE,
    data        TEXT NOT NULL DEFAULT '{}',
    updated     INTEGER NOT NULL
);

-- Descriptive documents that are neither readings nor personal data
-- (ESPI ApplicationInformation, Authorization, LocalTimeParameters, ...).
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    updated     INTEGER NOT NULL,
    UNIQUE (kind, key)
);

-- The raw payload archive: every body received, compressed, before it is parsed or acknowledged.
CREATE TABLE payloads (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    format      TEXT NOT NULL DEFAULT '',    -- espi, cim-xml, cim-json, eloverblik, set, batchlist, ...
    url         TEXT NOT NULL DEFAULT '',    -- URL or file name it came from
    headers     TEXT NOT NULL DEFAULT '{}',  -- response headers, credentials removed
    received    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,            -- uncompressed bytes
    status      TEXT NOT NULL DEFAULT 'pending', -- pending | parsed | failed
    error       TEXT NOT NULL DEFAULT '',
    parsed      INTEGER
);
CREATE INDEX payloads_sha ON payloads(sha256);

-- A payload's body is one gzip stream cut into chunks, so a 1 GB file is archived and read back
-- without ever being held in memory whole.
CREATE TABLE payload_chunks (
    payload_id  INTEGER NOT NULL REFERENCES payloads(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    data        BLOB NOT NULL,
    PRIMARY KEY (payload_id, seq)
) WITHOUT ROWID;

-- Open Banking security event tokens, verified or rejected; rejected ones are kept too.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    iss         TEXT NOT NULL,
    jti         TEXT NOT NULL,
    aud         TEXT NOT NULL DEFAULT '',
    types       TEXT NOT NULL DEFAULT '[]',  -- JSON array of event type URNs
    subject     TEXT NOT NULL DEFAULT '{}',  -- JSON of the subject (rid, rty, rlk, ...)
    rid         TEXT NOT NULL DEFAULT '',
    rty         TEXT NOT NULL DEFAULT '',
    txn         TEXT NOT NULL DEFAULT '',
    toe         INTEGER,
    iat         INTEGER,
    received    INTEGER NOT NULL,
    verified    INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    token       TEXT NOT NULL,
    payload_id  INTEGER REFERENCES payloads(id) ON DELETE SET NULL,
    UNIQUE (source_id, iss, jti)
);
CREATE INDEX events_received ON events(received);

-- DataHub (CIM) documents received.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    message_id  TEXT NOT NULL,
    type        TEXT NOT NULL DEFAULT '',
    created     INTEGER,
    received    INTEGER NOT NULL,
    correlation TEXT NOT NULL DEFAULT '',
    sender      TEXT NOT NULL DEFAULT '',
    receiver    TEXT NOT NULL DEFAULT '',
    business_reason TEXT NOT NULL DEFAULT '',
    reasons     TEXT NOT NULL DEFAULT '[]',  -- JSON array of {code, text}
    readings    INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    attrs       TEXT NOT NULL DEFAULT '{}',
    payload_id  INTEGER REFERENCES payloads(id) ON DELETE SET NULL,
    UNIQUE (source_id, message_id)
);
CREATE INDEX messages_received ON messages(received);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    started     INTEGER NOT NULL,
    finished    INTEGER,
    status      TEXT NOT NULL DEFAULT 'running', -- running | ok | failed | cancelled
    error_kind  TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    items       INTEGER NOT NULL DEFAULT 0,
    readings    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_runs_source ON sync_runs(source_id, started);

-- Acknowledgements owed to a custodian (OB ack / setErr, DataHub dequeue). Written in the same
-- transaction as the data they acknowledge, deleted once the custodian has them.
CREATE TABLE pending_acks (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,               -- ack | seterr | dequeue
    item        TEXT NOT NULL,               -- jti or MessageId
    detail      TEXT NOT NULL DEFAULT '{}',
    created     INTEGER NOT NULL,
    UNIQUE (source_id, kind, item)
);
