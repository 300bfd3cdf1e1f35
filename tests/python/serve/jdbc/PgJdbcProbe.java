// PgJDBC against the opsmetrics server: each operation a BI tool or DBeaver performs, one JSON
// line per operation on stdout ({"op", "ok", "rows" | "error"}). Run with the Java source
// launcher: java -cp postgresql.jar PgJdbcProbe.java HOST PORT USER PASSWORD
import java.sql.*;
import java.util.*;

public class PgJdbcProbe {
    interface Op { List<List<Object>> run(Connection c) throws Exception; }

    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        String s = v.toString().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
        return "\"" + s + "\"";
    }

    static List<List<Object>> rows(ResultSet rs) throws SQLException {
        List<List<Object>> out = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<Object> r = new ArrayList<>();
            for (int i = 1; i <= n; i++) r.add(rs.getObject(i));
            out.add(r);
        }
        return out;
    }

    static void report(String name, Op op, Connection c) {
        try {
            List<List<Object>> rs = op.run(c);
            StringBuilder sb = new StringBuilder("{\"op\":" + json(name) + ",\"ok\":true,\"rows\":[");
            for (int i = 0; i < rs.size(); i++) {
                if (i > 0) sb.append(",");
                sb.append("[");
                for (int j = 0; j < rs.get(i).size(); j++) {
                    if (j > 0) sb.append(",");
                    sb.append(json(rs.get(i).get(j)));
                }
                sb.append("]");
            }
            System.out.println(sb.append("]}"));
        } catch (Exception e) {
            System.out.println("{\"op\":" + json(name) + ",\"ok\":false,\"error\":" + json(e.toString()) + "}");
        }
    }

    public static void main(String[] a) throws Exception {
        String base = "jdbc:postgresql://" + a[0] + ":" + a[1] + "/opsmetrics?sslmode=disable";
        Properties p = new Properties();
        p.setProperty("user", a[2]);
        p.setProperty("password", a[3]);
        Properties eager = (Properties) p.clone();
        eager.setProperty("prepareThreshold", "1");
        Properties simple = (Properties) p.clone();
        simple.setProperty("preferQueryMode", "simple");
        String semantic = "select client__region, stp_rate from metrics where client__region = ? group by 1";
        try (Connection c = DriverManager.getConnection(base, eager)) {
            report("semantic_prepared_threshold_1", x -> {
                try (PreparedStatement s = x.prepareStatement(semantic)) {
                    s.setString(1, "EMEA");
                    s.executeQuery().close();  // the first execution makes it server-prepared
                    s.setString(1, "EMEA");
                    return rows(s.executeQuery());
                }
            }, c);
            report("semantic_metadata_before_execute", x -> {
                try (PreparedStatement s = x.prepareStatement(semantic)) {
                    ResultSetMetaData md = s.getMetaData();
                    ParameterMetaData pm = s.getParameterMetaData();
                    return List.of(List.of(md.getColumnCount(), md.getColumnName(1), pm.getParameterCount(),
                        pm.getParameterTypeName(1)));
                }
            }, c);
            report("set_int_long_decimal", x -> {
                try (PreparedStatement s = x.prepareStatement(
                        "select count(*) from fct_payments where repair_minutes > ? and amount_usd > ? and amount_usd < ?")) {
                    s.setInt(1, 5);
                    s.setBigDecimal(2, new java.math.BigDecimal("10.5"));
                    s.setLong(3, 1000000000L);
                    return rows(s.executeQuery());
                }
            }, c);
            report("set_date", x -> {
                try (PreparedStatement s = x.prepareStatement(
                        "select count(*) from fct_payments where cast(created_at as date) = ?")) {
                    s.setDate(1, java.sql.Date.valueOf("2025-06-02"));
                    return rows(s.executeQuery());
                }
            }, c);
            report("set_timestamp", x -> {
                try (PreparedStatement s = x.prepareStatement(
                        "select count(*) from fct_payments where created_at >= ?")) {
                    s.setTimestamp(1, java.sql.Timestamp.valueOf("2025-06-01 00:00:00"));
                    return rows(s.executeQuery());
                }
            }, c);
            report("database_metadata_tables_columns", x -> {
                DatabaseMetaData md = x.getMetaData();
                List<List<Object>> out = new ArrayList<>();
                try (ResultSet t = md.getTables(null, "main", "fct_payments", new String[] {"TABLE", "VIEW"})) {
                    while (t.next()) out.add(List.of("table", t.getString("TABLE_NAME")));
                }
                try (ResultSet col = md.getColumns(null, "main", "fct_payments", "payment_id")) {
                    while (col.next()) out.add(List.of("column", col.getString("COLUMN_NAME"), col.getString("TYPE_NAME")));
                }
                return out;
            }, c);
            report("result_metadata_origins", x -> {
                // DBeaver's and Tableau's grids: which table a column comes from, and whether
                // it can be NULL (PgJDBC asks pg_attribute by the RowDescription's table OID)
                try (Statement s = x.createStatement();
                     ResultSet r = s.executeQuery("select c.case_id, c.closed_at, 1 as one from fct_cases c limit 1")) {
                    ResultSetMetaData md = r.getMetaData();
                    List<List<Object>> out = new ArrayList<>();
                    for (int i = 1; i <= md.getColumnCount(); i++) {
                        out.add(List.of(md.getColumnName(i), md.getTableName(i), md.isNullable(i)));
                    }
                    return out;
                }
            }, c);
            report("index_info_and_keys", x -> {
                DatabaseMetaData md = x.getMetaData();
                List<List<Object>> out = new ArrayList<>();
                try (ResultSet r = md.getIndexInfo(null, "main", "fct_cases", false, false)) {
                    while (r.next()) out.add(List.of("index", String.valueOf(r.getString("INDEX_NAME")),
                        String.valueOf(r.getString("COLUMN_NAME")), r.getInt("ORDINAL_POSITION")));
                }
                try (ResultSet r = md.getPrimaryKeys(null, "main", "fct_cases")) {
                    while (r.next()) out.add(List.of("pk", r.getString("COLUMN_NAME")));
                }
                try (ResultSet r = md.getImportedKeys(null, "main", "fct_cases")) {
                    while (r.next()) out.add(List.of("imported", r.getString("FKCOLUMN_NAME"),
                        r.getString("PKTABLE_NAME"), r.getString("PKCOLUMN_NAME"), r.getString("FK_NAME")));
                }
                try (ResultSet r = md.getExportedKeys(null, "main", "dim_clients")) {
                    while (r.next()) out.add(List.of("exported", r.getString("FKTABLE_NAME"), r.getString("FKCOLUMN_NAME")));
                }
                return out;
            }, c);
        }
        try (Connection c = DriverManager.getConnection(base, simple)) {
            report("simple_mode_execute", x -> {
                try (PreparedStatement s = x.prepareStatement(semantic)) {
                    s.setString(1, "EMEA");
                    return rows(s.executeQuery());  // PgJDBC inlines the value as a literal
                }
            }, c);
            report("simple_mode_metadata_before_execute", x -> {
                // PostgreSQL 15 itself refuses this (PgJDBC sends the '?' unreplaced): a
                // syntax-class error is the expected answer, then the connection still works
                try (PreparedStatement s = x.prepareStatement(semantic)) {
                    try {
                        s.getMetaData();
                        return List.of(List.of("no error"));
                    } catch (SQLException e) {
                        try (Statement t = x.createStatement()) {
                            ResultSet rs = t.executeQuery("select 1");
                            rs.next();
                            return List.of(List.of(e.getSQLState(), rs.getInt(1)));
                        }
                    }
                }
            }, c);
        }
    }
}
