// The anti-join a DuckDB user would write, for the end-to-end benchmark (bench/e2e/e2e.py): keep
// the rows of EXTRACT whose COLUMN is not in LIST (a one-column CSV whose header is nhs_number)
// and write them to OUT: CSV with a header, or JSON Lines.
//
// Every column is read as text (all_varchar for CSV; every key of the first line declared
// VARCHAR for JSON Lines) so that NHS numbers, dates and codes keep their leading zeros and exact
// spelling. The CSV dialect is given, not sniffed: a sniffer may take an all-text header for
// data. A compressed EXTRACT (.csv.gz, .csv.zst) is read by DuckDB itself (compression 'auto':
// by the name's suffix).
//
//   --order any    the plain ANTI JOIN: DuckDB's parallel hash join emits rows in any order
//   --order input  numbers the rows with row_number() and sorts on it: the input order, at a cost
//   --format csv|jsonl           the EXTRACT's format and OUT's (default csv); jsonl reads with
//                                read_json(format = 'newline_delimited') and writes FORMAT json
//   --compression none|gzip|zstd OUT's compression, by COPY's COMPRESSION option (default none)
//
// Usage: node duckdb_antijoin.mjs --order any|input --threads N [--format csv|jsonl]
//                                 [--compression none|gzip|zstd] EXTRACT LIST COLUMN OUT
import { closeSync, openSync, readSync } from "node:fs";
import { parseArgs } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";

const usage = "usage: node duckdb_antijoin.mjs --order any|input --threads N " +
  "[--format csv|jsonl] [--compression none|gzip|zstd] EXTRACT LIST COLUMN OUT";
const { values: opts, positionals } = parseArgs({
  options: {
    order: { type: "string" }, threads: { type: "string" },
    format: { type: "string", default: "csv" }, compression: { type: "string", default: "none" },
  },
  allowPositionals: true,
});
if (!["any", "input"].includes(opts.order) || !opts.threads || positionals.length !== 4 ||
    !["csv", "jsonl"].includes(opts.format) ||
    !["none", "gzip", "zstd"].includes(opts.compression)) {
  console.error(usage);
  process.exit(2);
}
const [extract, list, column, out] = positionals;

const literal = (text) => `'${text.replaceAll("'", "''")}'`;
const identifier = (name) => `"${name.replaceAll('"', '""')}"`;
const readCsv = (path) =>
  `read_csv(${literal(path)}, header = true, all_varchar = true,
            delim = ',', quote = '"', escape = '"')`;

// The keys of the first JSON line, in order: the columns, each read as text.
function firstLineKeys(path) {
  const fd = openSync(path, "r");
  const buffer = Buffer.alloc(1 << 20);
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  closeSync(fd);
  const text = buffer.subarray(0, length).toString("utf8");
  return Object.keys(JSON.parse(text.slice(0, text.indexOf("\n"))));
}
const readJsonl = (path) =>
  `read_json(${literal(path)}, format = 'newline_delimited', columns = {${
    firstLineKeys(path).map((key) => `${literal(key)}: 'VARCHAR'`).join(", ")}})`;
const read = opts.format === "csv" ? readCsv : readJsonl;

const joined = (rows) =>
  `${rows} AS e ANTI JOIN ${readCsv(list)} AS l ON e.${identifier(column)} = l.nhs_number`;
const query = opts.order === "any"
  ? `SELECT e.* FROM ${joined(read(extract))}`
  : `SELECT e.* EXCLUDE (e2e_row)
     FROM ${joined(`(SELECT row_number() OVER () AS e2e_row, * FROM ${read(extract)})`)}
     ORDER BY e.e2e_row`;
const options = [opts.format === "csv" ? "FORMAT csv, HEADER true" : "FORMAT json"];
if (opts.compression !== "none") options.push(`COMPRESSION ${opts.compression}`);

const instance = await DuckDBInstance.create(":memory:", { threads: opts.threads });
const connection = await instance.connect();
await connection.run(`COPY (${query}) TO ${literal(out)} (${options.join(", ")})`);
