select
    o.order_id,
    o.customer_id,
    c.region,
    c.segment,
    o.channel,
    cast(o.ordered_at as date) as order_date,
    o.amount,
    o.delivery_hours,
    o.delivery_hours > 48 as is_late
from {{ ref('stg_orders') }} as o
inner join {{ ref('dim_customers') }} as c on o.customer_id = c.customer_id
