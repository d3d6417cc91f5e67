#!/usr/bin/env python3
"""The Green Button import a user would otherwise write: ElementTree + sqlite3.

It is the yardstick of issue 17 ("ESPI import at five times the Python stack"), run by
scripts/bench-import.sh beside `custody import` on the same generated file. It does what the
import needs and nothing more: stream the Atom feed with iterparse (clearing elements, so
memory stays flat), link each IntervalBlock to its MeterReading and that to its ReadingType by
their hrefs, apply the ReadingType's powerOfTenMultiplier, and upsert every reading into the
readings table Custody used until session 4 (WITHOUT ROWID, keyed by series and start; Custody
now packs a day's readings into one row) with executemany,
in one transaction. Readings whose ReadingType comes later wait in memory.

Usage: bench-import-python.py FEED.xml DB.sqlite
Prints one line: "<readings> readings <cpu> cpu-s <readings/cpu-s> readings/cpu-s".
"""

import resource
import sqlite3
import sys
import xml.etree.ElementTree as ET

ATOM = "{http://www.w3.org/2005/Atom}"
ESPI = "{http://naesb.org/espi}"

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, unit TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS readings (
    series_id INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, seconds INTEGER NOT NULL, value REAL, quality TEXT, cost REAL, tou INTEGER,
    PRIMARY KEY (series_id, start)
) WITHOUT ROWID;
"""

UPSERT = """INSERT INTO readings (series_id, start, seconds, value, quality, cost, tou)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (series_id, start) DO UPDATE SET seconds = excluded.seconds, value = excluded.value,
  quality = excluded.quality, cost = excluded.cost, tou = excluded.tou"""


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def mr_of_block(href):
    i = href.find("/IntervalBlock")
    return href[:i] if i >= 0 else href


def main(feed, dbpath):
    db = sqlite3.connect(dbpath)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    cur = db.cursor()
    cur.execute("BEGIN")

    reading_types = {}  # ReadingType href -> power of ten
    mr_rt = {}  # MeterReading href -> ReadingType href
    series_ids = {}  # MeterReading href -> series id
    waiting = {}  # MeterReading href -> [(start, seconds, raw value, quality, tou)]
    count = 0

    def series_id(mr):
        sid = series_ids.get(mr)
        if sid is None:
            cur.execute("INSERT INTO series (key, unit) VALUES (?, 'Wh') ON CONFLICT (key) DO UPDATE SET unit = excluded.unit RETURNING id", (mr,))
            sid = cur.fetchone()[0]
            series_ids[mr] = sid
        return sid

    def store(mr, raw):
        nonlocal count
        pow10 = reading_types[mr_rt[mr]]
        scale = 10.0 ** pow10
        sid = series_id(mr)
        cur.executemany(UPSERT, ((sid, s, d, None if v is None else v * scale, q, None, t) for (s, d, v, q, t) in raw))
        count += len(raw)

    def flush_ready():
        for mr in list(waiting):
            if mr in mr_rt and mr_rt[mr] in reading_types:
                store(mr, waiting.pop(mr))

    for _, elem in ET.iterparse(feed, events=("end",)):
        if elem.tag != ATOM + "entry":
            continue
        self_href, related = "", []
        for link in elem.findall(ATOM + "link"):
            rel = link.get("rel")
            if rel == "self":
                self_href = link.get("href", "")
            elif rel == "related":
                related.append(link.get("href", ""))
        content = elem.find(ATOM + "content")
        res = content[0] if content is not None and len(content) else None
        if res is None:
            elem.clear()
            continue
        kind = res.tag
        if kind == ESPI + "ReadingType":
            p = res.findtext(ESPI + "powerOfTenMultiplier")
            reading_types[self_href] = int(p) if p else 0
            flush_ready()
        elif kind == ESPI + "MeterReading":
            for r in related:
                if "/ReadingType/" in r:
                    mr_rt[self_href] = r
            flush_ready()
        elif kind == ESPI + "IntervalBlock":
            mr = mr_of_block(self_href)
            rows = []
            for ir in res.iter(ESPI + "IntervalReading"):
                tp = ir.find(ESPI + "timePeriod")
                v = ir.findtext(ESPI + "value")
                t = ir.findtext(ESPI + "tou")
                rows.append((
                    int(tp.findtext(ESPI + "start")), int(tp.findtext(ESPI + "duration")),
                    int(v) if v is not None else None,
                    ir.findtext(ESPI + "ReadingQuality/" + ESPI + "quality"),
                    int(t) if t is not None else None,
                ))
            if mr in mr_rt and mr_rt[mr] in reading_types and mr not in waiting:
                store(mr, rows)
            else:
                waiting.setdefault(mr, []).extend(rows)
        elem.clear()
    flush_ready()
    db.commit()
    db.close()
    cpu = cpu_seconds()
    print(f"{count} readings {cpu:.3f} cpu-s {count / cpu:.0f} readings/cpu-s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
