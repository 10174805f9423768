// The anti-join a Polars user would write, for the end-to-end benchmark (bench/e2e/e2e.py): keep
// the rows of EXTRACT whose COLUMN is not in LIST (a one-column CSV whose header is nhs_number)
// and write them as CSV with a header to OUT, in input order.
//
// The lazy API (scanCSV ... sinkCSV) is Polars' own advice for files: it streams, and was about
// twice as fast as readCSV + writeCSV here. (readCSV would also take a path that does not end in
// .csv for CSV text.) inferSchemaLength 0 reads every column as text, so that leading zeros
// survive; maintainOrder "left" keeps the extract's row order through the join. Threads: Polars
// uses every core unless POLARS_MAX_THREADS says otherwise.
//
// Usage: node polars_antijoin.mjs EXTRACT LIST COLUMN OUT
import pl from "nodejs-polars";

const positionals = process.argv.slice(2);
if (positionals.length !== 4) {
  console.error("usage: node polars_antijoin.mjs EXTRACT LIST COLUMN OUT");
  process.exit(2);
}
const [extract, list, column, out] = positionals;

const rows = pl.scanCSV(extract, { inferSchemaLength: 0 });
const optedOut = pl.scanCSV(list, { inferSchemaLength: 0 });
await rows
  .join(optedOut, { leftOn: column, rightOn: "nhs_number", how: "anti", maintainOrder: "left" })
  .sinkCSV(out, { maintainOrder: true })
  .collect();
