-- alerts that fired in the hours [$start, $end), each once, with its current state
with fired as (
    select
        fingerprint, alertname, severity, labels, annotations, hour, starts_at
    from ops.alerts
    where status = 'firing' and hour >= $start::timestamptz and hour < $end::timestamptz
    qualify row_number() over (partition by fingerprint order by hour desc, recorded_at desc) = 1
),

state as (
    select fingerprint, status, ends_at
    from ops.alert_state
)

select
    fired.fingerprint, fired.alertname, fired.severity, fired.labels, fired.annotations,
    fired.starts_at, fired.hour as last_hour, state.status, state.ends_at
from fired
left join state on state.fingerprint = fired.fingerprint
order by
    case fired.severity when 'critical' then 0 when 'warning' then 1 else 2 end,
    fired.starts_at, fired.alertname, fired.fingerprint
