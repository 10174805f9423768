// The anti-join a DuckDB user would write, for the end-to-end benchmark (bench/e2e/e2e.py): keep
// the rows of EXTRACT whose COLUMN is not in LIST (a one-column CSV whose header is nhs_number)
// and write them as CSV with a header to OUT.
//
// Every column is read as text (all_varchar) so that NHS numbers, dates and codes keep their
// leading zeros and exact spelling. The CSV dialect is given, not sniffed: a sniffer may take an
// all-text header for data.
//
//   --order any    the plain ANTI JOIN: DuckDB's parallel hash join emits rows in any order
//   --order input  numbers the rows with row_number() and sorts on it: the input order, at a cost
//
// Usage: node duckdb_antijoin.mjs --order any|input --threads N EXTRACT LIST COLUMN OUT
import { parseArgs } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";

const { values: opts, positionals } = parseArgs({
  options: { order: { type: "string" }, threads: { type: "string" } },
  allowPositionals: true,
});
if (!["any", "input"].includes(opts.order) || !opts.threads || positionals.length !== 4) {
  console.error(
    "usage: node duckdb_antijoin.mjs --order any|input --threads N EXTRACT LIST COLUMN OUT");
  process.exit(2);
}
const [extract, list, column, out] = positionals;

const literal = (text) => `'${text.replaceAll("'", "''")}'`;
const identifier = (name) => `"${name.replaceAll('"', '""')}"`;
const readCsv = (path) =>
  `read_csv(${literal(path)}, header = true, all_varchar = true,
            delim = ',', quote = '"', escape = '"')`;

const joined = (rows) =>
  `${rows} AS e ANTI JOIN ${readCsv(list)} AS l ON e.${identifier(column)} = l.nhs_number`;
const query = opts.order === "any"
  ? `SELECT e.* FROM ${joined(readCsv(extract))}`
  : `SELECT e.* EXCLUDE (e2e_row)
     FROM ${joined(`(SELECT row_number() OVER () AS e2e_row, * FROM ${readCsv(extract)})`)}
     ORDER BY e.e2e_row`;

const instance = await DuckDBInstance.create(":memory:", { threads: opts.threads });
const connection = await instance.connect();
await connection.run(`COPY (${query}) TO ${literal(out)} (FORMAT csv, HEADER true)`);
