// Reads a Parquet file written by `custody export --format parquet` with DuckDB and compares
// it with the CSV export of the same readings, given as a JSON array of CSV records.
// Usage: node check.mjs FILE.parquet EXPECTED.json
// Exit 0 when the column names, the column types and every row agree; 1 with the first
// difference otherwise.
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [parquetFile, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedFile, 'utf8'));
const fail = (msg) => { console.error(msg); process.exit(1); };

const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const src = `read_parquet('${parquetFile.replaceAll("'", "''")}')`;

const wantTypes = {
  meter: 'VARCHAR', series: 'VARCHAR', commodity: 'VARCHAR', flow: 'VARCHAR', unit: 'VARCHAR',
  start: 'TIMESTAMP WITH TIME ZONE', seconds: 'BIGINT', value: 'DOUBLE', quality: 'VARCHAR',
  cost: 'DOUBLE', currency: 'VARCHAR',
};
const cols = (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${src}`)).getRowObjects();
const names = cols.map((r) => r.column_name);
if (names.join(',') !== Object.keys(wantTypes).join(',')) fail(`columns ${names}`);
for (const r of cols) {
  if (r.column_type !== wantTypes[r.column_name]) fail(`column ${r.column_name} is ${r.column_type}, want ${wantTypes[r.column_name]}`);
}

// epoch_us keeps the timestamp exact whatever DuckDB's session time zone is.
const rows = (await c.runAndReadAll(`SELECT meter, series, commodity, flow, unit, epoch_us(start) AS us,
  seconds, value, quality, cost, currency FROM ${src}`)).getRows();
if (rows.length !== expected.length) fail(`${rows.length} rows, want ${expected.length}`);
const num = (s) => (s === '' ? null : Number(s));
for (let i = 0; i < rows.length; i++) {
  const [meter, series, commodity, flow, unit, us, seconds, value, quality, cost, currency] = rows[i];
  const e = expected[i];
  const start = new Date(Number(us / 1000n)).toISOString().replace('.000Z', 'Z');
  const got = [meter, series, commodity, flow, unit, start, String(seconds), value, quality, cost, currency];
  const want = [e[0], e[1], e[2], e[3], e[4], e[5], e[6], num(e[7]), e[8], num(e[9]), e[10]];
  for (let j = 0; j < got.length; j++) {
    if (got[j] !== want[j]) fail(`row ${i} column ${names[j]}: DuckDB read ${got[j]}, the CSV says ${want[j]}`);
  }
}
console.log(`DuckDB read ${rows.length} rows that match the CSV export`);
