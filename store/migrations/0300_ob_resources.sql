-- What the resource behind an Open Banking event said when Custody fetched it (--follow): one
-- row per event followed, so that the rows of one resource, in time order, are its timeline.
-- A resource Custody cannot read with its own token (account information needs the customer's
-- consent) gets a row too, with the reason in note and no status, so it is not asked for again.
CREATE TABLE ob_resource_states (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL UNIQUE REFERENCES events(id) ON DELETE CASCADE,
    source_id   INTEGER REFERENCES sources(id) ON DELETE SET NULL,
    rid         TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL DEFAULT '',  -- the resource collection, such as domestic-payments
    status      TEXT NOT NULL DEFAULT '',
    status_time INTEGER,                   -- StatusUpdateDateTime (else CreationDateTime)
    amount      TEXT NOT NULL DEFAULT '',  -- as the bank wrote it, such as 165.88
    currency    TEXT NOT NULL DEFAULT '',
    creditor    TEXT NOT NULL DEFAULT '',
    dates       TEXT NOT NULL DEFAULT '',  -- the other dates that matter, one line
    note        TEXT NOT NULL DEFAULT '',  -- why there is no status, when there is none
    fetched     INTEGER NOT NULL,
    payload_id  INTEGER REFERENCES payloads(id) ON DELETE SET NULL
);
CREATE INDEX ob_resource_states_rid ON ob_resource_states(source_id, rid);
