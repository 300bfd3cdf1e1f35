select
    order_id,
    customer_id,
    lower(channel) as channel,
    cast(ordered_at as timestamp) as ordered_at,
    cast(amount as double) as amount,
    cast(delivery_hours as double) as delivery_hours
from {{ ref('raw_orders') }}
