-- strict readers for export values: numbers may be JSON numbers or decimal strings,
-- integers must be whole, timestamps must carry an offset; anything else reads as null
create or replace macro as_int(t) as
    case when regexp_full_match(trim(t), '-?[0-9]+(\.0*)?') then try_cast(trim(t) as bigint) end;
-- the same for 32-bit columns: a whole number beyond the integer range reads as null
create or replace macro as_int32(t) as try_cast(as_int(t) as integer);
create or replace macro as_num(t) as
    case when isfinite(try_cast(trim(t) as double)) then try_cast(trim(t) as double) end;
create or replace macro as_ts(t) as
    case when regexp_matches(trim(t), '(Z|[+-][0-9]{2}(:?[0-9]{2})?)$')
        then try_cast(trim(t) as timestamptz) end;
-- a reason fragment when a required field is absent or unreadable
create or replace macro need(raw_value, typed_value, field) as
    case
        when raw_value is null then 'missing ' || field
        when typed_value is null then 'bad ' || field || ': ' || left(raw_value, 40)
    end;
-- a reason fragment when a required text field is absent or empty
create or replace macro need_text(t, field) as
    case when t is null or t = '' then 'missing ' || field end;
-- a reason fragment when an optional field is present but unreadable
create or replace macro allow_null(raw_value, typed_value, field) as
    case when raw_value is not null and typed_value is null
        then 'bad ' || field || ': ' || left(raw_value, 40) end;
-- booleans as JSON true/false or as CSV text; anything else reads as null
create or replace macro as_bool(t) as
    case
        when lower(trim(t)) in ('true', 't', '1', 'yes') then true
        when lower(trim(t)) in ('false', 'f', '0', 'no') then false
    end;
