-- Readings move from one row each to one row per series and UTC day, the day's readings packed
-- in a blob (store/internal/dayblob describes the format and why). The rows of the old table are
-- packed by custody_pack_reading_day, an aggregate the store registers with SQLite.
CREATE TABLE reading_days (
    series_id   INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,            -- UTC days since 1970-01-01 of the readings' start
    n           INTEGER NOT NULL,            -- readings in data
    data        BLOB NOT NULL,
    PRIMARY KEY (series_id, day)
);

INSERT INTO reading_days (series_id, day, n, data)
SELECT series_id, (start - ((start % 86400) + 86400) % 86400) / 86400 AS d, COUNT(*),
       custody_pack_reading_day(start, seconds, value, quality, cost, tou)
FROM readings GROUP BY series_id, d;

DROP TABLE readings;
