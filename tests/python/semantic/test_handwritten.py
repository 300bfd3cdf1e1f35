"""A second, independent check: metrics against SQL written by hand on the fixture tables."""

from __future__ import annotations

import pytest

from .compare import rows_equal

CASES = {
    "order_total_by_month": (
        dict(metrics=["order_total"], group_by=["metric_time__month"]),
        "select date_trunc('month', ordered_at), sum(amount) from main.fct_orders group by 1",
    ),
    "order_count_and_rows": (
        dict(metrics=["order_count", "order_rows"], group_by=["order__channel"]),
        "select channel, count(*), count(order_id) from main.fct_orders group by 1",
    ),
    "completed_orders": (
        dict(metrics=["completed_orders"], group_by=["metric_time__week"]),
        "select date_trunc('week', ordered_at), count(*) from main.fct_orders where status = 'completed' group by 1",
    ),
    "completion_rate": (
        dict(metrics=["completion_rate"], group_by=["customer__segment"]),
        """select c.segment, count(*) filter (where o.status = 'completed')::double / count(*)
           from main.fct_orders o left join main.dim_customers c using (customer_id) group by 1""",
    ),
    "avg_median_p90": (
        dict(
            metrics=[
                "avg_order_amount",
                "median_order_amount",
                "p90_order_amount",
                "p90_order_amount_discrete",
            ]
        ),
        """select avg(amount), median(amount), quantile_cont(amount, 0.9), quantile_disc(amount, 0.9)
           from main.fct_orders""",
    ),
    "distinct_and_boolean": (
        dict(metrics=["order_customers", "large_orders"], group_by=["metric_time__month"]),
        "select date_trunc('month', ordered_at), count(distinct customer_id), sum(is_large::int) from main.fct_orders group by 1",
    ),
    "emea_multi_hop": (
        dict(metrics=["emea_order_total"], group_by=["order__status"]),
        """select o.status, sum(o.amount) from main.fct_orders o
           join main.dim_customers c using (customer_id) join main.dim_regions r using (region_id)
           where r.region_name = 'EMEA' group by 1""",
    ),
    "visits_by_hour": (
        dict(metrics=["visits"], group_by=["metric_time__hour"]),
        "select date_trunc('hour', visited_at), count(*) from main.fct_visits group by 1",
    ),
    "balance_last_day_of_month": (
        dict(metrics=["total_balance"], group_by=["metric_time__month"]),
        """select date_trunc('month', balance_date) m, sum(balance) from main.fct_balances b
           where balance_date = (select max(balance_date) from main.fct_balances b2
                                 where date_trunc('month', b2.balance_date) = date_trunc('month', b.balance_date))
           group by 1""",
    ),
    "trailing_7_days": (
        dict(
            metrics=["order_total_7d"],
            group_by=["metric_time__day"],
            start_time="2024-02-01",
            end_time="2024-02-20",
        ),
        """select s.date_day::timestamp, sum(o.amount) from main.metricflow_time_spine s
           join main.fct_orders o on o.ordered_at::date <= s.date_day and o.ordered_at::date > s.date_day - 7
           where s.date_day between '2024-02-01' and '2024-02-20' group by 1""",
    ),
    "month_to_date_last": (
        dict(metrics=["order_total_mtd_last"], group_by=["metric_time__month"]),
        """select date_trunc('month', ordered_at), sum(amount) from main.fct_orders group by 1""",
    ),
    "purchases_per_visit": (
        dict(metrics=["purchases_per_visit"], group_by=["metric_time__month"]),
        """select coalesce(p.m, v.m), p.n::double / nullif(v.n, 0) from
           (select date_trunc('month', purchased_at) m, count(*) n from main.fct_purchases group by 1) p
           full join (select date_trunc('month', visited_at) m, count(*) n from main.fct_visits group by 1) v on p.m = v.m""",
    ),
    "new_customers": (
        dict(metrics=["new_customers"], group_by=["customer__country"]),
        "select country, count(customer_id) from main.dim_customers group by 1",
    ),
    "conversion_7d": (
        dict(metrics=["visit_to_purchase_count"], group_by=["visit__referrer"]),
        """with m as (
             select v.referrer, p.purchase_id,
                    row_number() over (partition by p.purchase_id order by date_trunc('hour', v.visited_at) desc) rn
             from main.fct_visits v join main.fct_purchases p
               on v.customer_id = p.customer_id
              and date_trunc('hour', v.visited_at) <= date_trunc('hour', p.purchased_at)
              and date_trunc('hour', v.visited_at) > date_trunc('hour', p.purchased_at) - interval 7 day)
           select referrer, count(*) from m where rn = 1 group by 1""",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_hand_written_sql(case, sl):
    req, sql = CASES[case]
    ours = sl.query(**req).fetchall()
    theirs = sl.connection.sql(sql).fetchall()
    ok, why = rows_equal(ours, theirs, ordered=False)
    assert ok, why


def test_at_least_ten_metrics_checked_by_hand():
    metrics = {m for req, _sql in CASES.values() for m in req["metrics"]}
    assert len(metrics) >= 10
