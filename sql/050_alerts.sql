-- alerts (docs/alerts.md): state-change log, current state per fingerprint, outbox, silences

-- every alert state change, appended; `notify` says what the change sent (or, in record
-- mode, would have sent): firing | repeat | escalated | resolved, null when nothing
create table if not exists ops.alerts (
    fingerprint varchar not null,
    alertname varchar not null,
    status varchar not null,
    severity varchar not null,
    labels json not null,
    annotations json not null,
    hour timestamptz not null,
    starts_at timestamptz not null,
    ends_at timestamptz,
    silenced boolean not null,
    impact double not null default 0,
    notify varchar,
    mode varchar not null,
    recorded_at timestamptz not null
);

-- the current state of each fingerprint; status pending | firing | resolved | inactive
-- (inactive: it was pending and cleared before firing); hours are evaluated hours
create table if not exists ops.alert_state (
    fingerprint varchar primary key,
    alertname varchar not null,
    status varchar not null,
    severity varchar not null,
    labels json not null,
    annotations json not null,
    impact double not null default 0,
    active_since timestamptz not null,
    last_fired_hour timestamptz not null,
    last_eval_hour timestamptz not null,
    notified_hour timestamptz,
    notified_severity varchar,
    ends_at timestamptz,
    silenced boolean not null,
    updated_at timestamptz not null
);

-- the outbox: one row per message per channel, written with the state change it reports
create table if not exists ops.deliveries (
    delivery_id varchar primary key,
    channel varchar not null,
    group_key varchar not null,
    payload json not null,
    state varchar not null,
    attempts integer not null default 0,
    last_error varchar,
    sent_at timestamptz,
    hour timestamptz not null,
    fingerprints varchar[] not null,
    created_at timestamptz not null,
    last_attempt_at timestamptz
);

create table if not exists ops.silences (
    silence_id varchar primary key,
    matchers json not null,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    reason varchar not null,
    created_by varchar not null,
    created_at timestamptz not null,
    removed_at timestamptz
);
