// pgx (v4) and lib/pq against opsmetrics serve: one JSON line per operation on stdout
// ({"op", "ok", "rows" | "error", "code"}). Built in GOPATH mode from Debian's packages
// (golang-github-jackc-pgx-v4-dev, golang-github-lib-pq-dev), nothing downloaded.
// Usage: go run probe.go HOST PORT USER PASSWORD
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/lib/pq"
)

const semantic = "select client__region, stp_rate from metrics where client__region = $1 group by 1"
const jdbc = "select * from {{ semantic_layer.query(metrics=['payments'], group_by=['payment__rail']) }} where payment__rail = $1"

func report(op string, fn func() ([][]any, error)) {
	rows, err := fn()
	out := map[string]any{"op": op, "ok": err == nil}
	if err != nil {
		out["error"] = err.Error()
		var pe *pgconn.PgError
		var qe *pq.Error
		if errors.As(err, &pe) {
			out["code"] = pe.Code
		} else if errors.As(err, &qe) {
			out["code"] = string(qe.Code)
		}
	} else {
		out["rows"] = rows
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func plain(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	return v
}

func pgxRows(conn *pgx.Conn, query string, args ...any) ([][]any, error) {
	rs, err := conn.Query(context.Background(), query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := [][]any{}
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			return nil, err
		}
		row := []any{}
		for _, v := range vals {
			row = append(row, plain(v))
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func pqRows(db *sql.DB, query string, args ...any) ([][]any, error) {
	rs, err := db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	out := [][]any{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := []any{}
		for _, v := range vals {
			row = append(row, plain(v))
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

func main() {
	host, port, user, password := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	url := fmt.Sprintf("postgres://%s:%s@%s:%s/opsmetrics?sslmode=disable", user, password, host, port)
	ctx := context.Background()
	day := time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)
	since := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

	// ------------------------------------------------------------ pgx: described, binary
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	report("pgx_semantic_all", func() ([][]any, error) {
		return pgxRows(conn, "select client__region, stp_rate from metrics group by 1")
	})
	report("pgx_semantic_param", func() ([][]any, error) { return pgxRows(conn, semantic, "EMEA") })
	report("pgx_jdbc_param", func() ([][]any, error) { return pgxRows(conn, jdbc, "SWIFT") })
	report("pgx_int_param", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where repair_minutes > $1", 5)
	})
	report("pgx_float_param", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where amount_usd > $1", 71815.25)
	})
	report("pgx_date_param", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where created_date = $1", day)
	})
	report("pgx_timestamp_param", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where created_at >= $1", since)
	})
	report("pgx_array_param", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where rail = any($1)", []string{"SWIFT", "SEPA"})
	})
	report("pgx_array_result", func() ([][]any, error) {
		var ints []int32
		var texts []*string
		err := conn.QueryRow(ctx, "select array[1, 2, 3], array['x', null]").Scan(&ints, &texts)
		second := "null"
		if len(texts) == 2 && texts[1] == nil {
			second = "nil"
		}
		return [][]any{{fmt.Sprint(ints), *texts[0], second}}, err
	})
	report("pgx_types", func() ([][]any, error) {
		var a int16
		var b int64
		var c float64
		var d bool
		var e *string
		var f, g time.Time
		err := conn.QueryRow(ctx, "select 1::int2, 2::int8, 1.50::numeric(10, 2), true, null::text, "+
			"date '2025-06-01', timestamp '2025-06-01 12:30:00'").Scan(&a, &b, &c, &d, &e, &f, &g)
		return [][]any{{a, b, c, d, e == nil, plain(f), plain(g)}}, err
	})
	report("pgx_simple_protocol", func() ([][]any, error) {
		return pgxRows(conn, "select count(*) from fct_payments where repair_minutes > $1",
			pgx.QuerySimpleProtocol(true), 5)
	})
	report("pgx_error_then_usable", func() ([][]any, error) {
		_, err := pgxRows(conn, "select * from no_such_table")
		var pe *pgconn.PgError
		code := ""
		if errors.As(err, &pe) {
			code = pe.Code
		}
		rows, err := pgxRows(conn, "select 1")
		if err != nil {
			return nil, err
		}
		return [][]any{{code, rows[0][0]}}, nil
	})
	conn.Close(ctx)

	// ------------------------------------------------------------ lib/pq: text parameters
	db, err := sql.Open("postgres", url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db.SetMaxOpenConns(1)
	report("pq_semantic_param", func() ([][]any, error) { return pqRows(db, semantic, "EMEA") })
	report("pq_jdbc_param", func() ([][]any, error) { return pqRows(db, jdbc, "SWIFT") })
	report("pq_jdbc_all", func() ([][]any, error) {
		return pqRows(db, "select * from {{ semantic_layer.query(metrics=['payments'], group_by=['payment__rail']) }}")
	})
	report("pq_int_param", func() ([][]any, error) {
		return pqRows(db, "select count(*) from fct_payments where repair_minutes > $1", 5)
	})
	report("pq_float_param", func() ([][]any, error) {
		return pqRows(db, "select count(*) from fct_payments where amount_usd > $1", 71815.25)
	})
	report("pq_date_param", func() ([][]any, error) {
		return pqRows(db, "select count(*) from fct_payments where created_date = $1", day)
	})
	report("pq_timestamp_param", func() ([][]any, error) {
		return pqRows(db, "select count(*) from fct_payments where created_at >= $1", since)
	})
	report("pq_array_param", func() ([][]any, error) {
		return pqRows(db, "select count(*) from fct_payments where rail = any($1)", pq.Array([]string{"SWIFT", "SEPA"}))
	})
	report("pq_prepared_twice", func() ([][]any, error) {
		st, err := db.Prepare("select count(*) from fct_payments where repair_minutes > $1")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		out := []any{}
		for _, v := range []int{5, 50} {
			var n int64
			if err := st.QueryRow(v).Scan(&n); err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return [][]any{out}, nil
	})
	report("pq_transaction", func() ([][]any, error) {
		tx, err := db.Begin()
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		var n int64
		err = tx.QueryRow("select count(*) from fct_cases").Scan(&n)
		return [][]any{{n}}, err
	})
	report("pq_error_then_usable", func() ([][]any, error) {
		_, err := pqRows(db, "select * from no_such_table")
		var qe *pq.Error
		code := ""
		if errors.As(err, &qe) {
			code = string(qe.Code)
		}
		rows, err := pqRows(db, "select 1")
		if err != nil {
			return nil, err
		}
		return [][]any{{code, rows[0][0]}}, nil
	})
	db.Close()
}
