-- Calls a custodian limits per client address across every source and process (Eloverblik
-- allows 2 token calls a minute): only when each was made, never what it carried.
CREATE TABLE call_log (
    key         TEXT NOT NULL,               -- such as "eloverblik token https://api.eloverblik.dk:443"
    at_ms       INTEGER NOT NULL             -- unix milliseconds of the call
);
CREATE INDEX call_log_key ON call_log (key, at_ms);

-- Charges that apply to a metering point (Eloverblik getcharges): tariffs per kWh, by hour of
-- the Danish day or for the whole day, subscriptions and fees per period. Only current and
-- future prices are known; a spot price is not among them.
CREATE TABLE charges (
    meter_id    INTEGER NOT NULL REFERENCES meters(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,               -- tariff, subscription, fee
    name        TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',    -- GLN of the grid company or Energinet
    valid_from  INTEGER NOT NULL DEFAULT 0,  -- unix seconds; 0 when not given
    valid_to    INTEGER,                     -- unix seconds; NULL while open-ended
    period      TEXT NOT NULL DEFAULT '',    -- the charge's periodType (P1H, P1D, ...)
    currency    TEXT NOT NULL DEFAULT 'DKK',
    prices      TEXT NOT NULL DEFAULT '[]',  -- JSON array of prices by position (hour 1..24 for an hourly tariff)
    quantity    INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    updated     INTEGER NOT NULL,
    PRIMARY KEY (meter_id, kind, name, owner, valid_from)
);
