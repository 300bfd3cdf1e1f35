// node-postgres (pg) and postgres.js against opsmetrics serve: one JSON line per operation on
// stdout ({"op", "ok", "rows" | "error", "code"}). Usage: node probe.mjs HOST PORT USER PASSWORD
import pg from "pg";
import postgres from "postgres";

const [host, port, user, password] = process.argv.slice(2);
const conn = { host, port: Number(port), user, password, database: "opsmetrics" };
const semantic =
  "select client__region, stp_rate from metrics where client__region = $1 group by 1";
const jdbc =
  "select * from {{ semantic_layer.query(metrics=['payments'], group_by=['payment__rail']) }} " +
  "where payment__rail = $1";

function plain(v) {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

async function report(op, fn) {
  try {
    const rows = await fn();
    console.log(JSON.stringify({ op, ok: true, rows: plain(rows) }));
  } catch (e) {
    console.log(JSON.stringify({ op, ok: false, error: String(e.message), code: e.code ?? null }));
  }
}

// ---------------------------------------------------------------- node-postgres
const client = new pg.Client(conn);
await client.connect();
const q = async (text, values) => (await client.query({ text, values, rowMode: "array" })).rows;

await report("pg_simple_count", () => q("select count(*) from fct_payments"));
await report("pg_semantic_param", () => q(semantic, ["EMEA"]));
await report("pg_jdbc_syntax_param", () => q(jdbc, ["SWIFT"]));
await report("pg_semantic_all", () => q("select client__region, stp_rate from metrics group by 1"));
await report("pg_jdbc_all", () => q(jdbc.replace(" where payment__rail = $1", "")));
await report("pg_int_decimal_params", () =>
  q("select count(*) from fct_payments where repair_minutes > $1 and amount_usd > $2", [5, "71815.25"]));
await report("pg_date_param", () =>
  q("select count(*) from fct_payments where created_date = $1", [new Date(Date.UTC(2025, 5, 2))]));
await report("pg_timestamp_param", () =>
  q("select count(*) from fct_payments where created_at >= $1", [new Date(Date.UTC(2025, 5, 1))]));
await report("pg_array_param", () =>
  q("select count(*) from fct_payments where rail = any($1)", [["SWIFT", "SEPA"]]));
await report("pg_array_result", () => q("select array[1, 2, 3] as a, array['x', null] as b"));
await report("pg_types", () =>
  q("select 1::int2, 2::int8, 1.50::numeric(10, 2), true, null::text, date '2025-06-01', " +
    "timestamp '2025-06-01 12:30:00', 'a''b'::text"));
await report("pg_named_prepared_twice", async () => {
  const out = [];
  for (const v of [5, 50]) {
    const r = await client.query({
      name: "by_repair",
      text: "select count(*) from fct_payments where repair_minutes > $1",
      values: [v],
      rowMode: "array",
    });
    out.push(r.rows[0][0]);
  }
  return out;
});
await report("pg_error_then_usable", async () => {
  let code = null;
  try {
    await q("select * from no_such_table");
  } catch (e) {
    code = e.code;
  }
  return [[code, (await q("select 1"))[0][0]]];
});
await report("pg_field_metadata", async () => {
  const r = await client.query("select payment_id, amount_usd, created_at from fct_payments limit 1");
  return r.fields.map((f) => [f.name, f.dataTypeID]);
});
await client.end();

// ---------------------------------------------------------------- postgres.js
const sql = postgres({ ...conn, max: 1, onnotice: () => {} });
const arr = (rows) => rows.map((r) => Object.values(r));

await report("js_simple_count", async () => arr(await sql`select count(*) from fct_payments`));
await report("js_semantic_param", async () =>
  arr(await sql.unsafe(semantic, ["EMEA"], { prepare: true })));
await report("js_tagged_semantic", async () => {
  const region = "EMEA";
  return arr(await sql`select client__region, stp_rate from metrics where client__region = ${region} group by 1`);
});
await report("js_jdbc_syntax_param", async () => arr(await sql.unsafe(jdbc, ["SWIFT"], { prepare: true })));
await report("js_int_decimal_params", async () =>
  arr(await sql`select count(*) from fct_payments where repair_minutes > ${5} and amount_usd > ${71815.25}`));
await report("js_date_param", async () => {
  const d = new Date(Date.UTC(2025, 5, 2));
  return arr(await sql`select count(*) from fct_payments where created_date = ${d}`);
});
await report("js_array_param", async () =>
  arr(await sql`select count(*) from fct_payments where rail = any(${["SWIFT", "SEPA"]})`));
await report("js_array_result", async () => arr(await sql`select array[1, 2, 3] as a, array['x', null] as b`));
await report("js_types", async () =>
  arr(await sql`select 1::int2 as a, 2::int8 as b, 1.50::numeric(10, 2) as c, true as d, null::text as e,
                       date '2025-06-01' as f, timestamp '2025-06-01 12:30:00' as g`));
await report("js_cursor_batches", async () => {
  const sizes = [];
  let n = 0;
  for await (const rows of sql`select payment_id from fct_payments order by 1 limit 25`.cursor(10)) {
    sizes.push(rows.length);
    n += rows.length;
  }
  return [[sizes.join(","), n]];
});
await report("js_transaction", async () =>
  sql.begin(async (tx) => arr(await tx`select count(*) from fct_cases`)));
await report("js_error_then_usable", async () => {
  let code = null;
  try {
    await sql`select * from no_such_table`;
  } catch (e) {
    code = e.code;
  }
  return [[code, arr(await sql`select 1 as one`)[0][0]]];
});
await report("js_describe", async () => {
  const r = await sql`select payment_id, amount_usd from fct_payments where rail = ${"SWIFT"} limit 1`.describe();
  return [[r.types.length, r.columns.map((c) => c.name).join(",")]];
});
await sql.end();
