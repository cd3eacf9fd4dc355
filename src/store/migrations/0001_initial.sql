-- ispmonitor schema, version 1: the inventory, API tokens, the audit log, alert history and
-- license state. Applied by `ispmonitor migrate` inside one transaction.

CREATE TABLE credentials (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    type        text NOT NULL CHECK (type IN ('snmp', 'ssh')),
    -- Every non-secret field, as the YAML `credentials:` entry spells it.
    params      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The secret fields (community, passwords, private key), sealed with AES-256-GCM under the
    -- operator's ISPMONITOR_SECRET_KEY; NULL when the credential has none.
    secrets     bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('router', 'server', 'host')),
    name          text NOT NULL,
    address       text NOT NULL,
    credential_id bigint REFERENCES credentials (id) ON DELETE RESTRICT,
    interval      text,
    timeout       text,
    host_key      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, name)
);
CREATE INDEX devices_credential ON devices (credential_id);

-- Which modules poll a device, in the order given.
CREATE TABLE device_modules (
    device_id bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    module    text NOT NULL,
    position  integer NOT NULL,
    PRIMARY KEY (device_id, module)
);
CREATE INDEX device_modules_module ON device_modules (module);

-- Free-form labels (site, role, vendor...), exported on ispmonitor_target_info and in SD.
CREATE TABLE device_labels (
    device_id bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name      text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (device_id, name)
);
CREATE INDEX device_labels_name_value ON device_labels (name, value);

CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    -- SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough.
    token_hash   bytea NOT NULL UNIQUE,
    -- The first characters of the token, to recognise it in lists.
    prefix       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    token_id       bigint,
    action         text NOT NULL,
    kind           text NOT NULL,
    target         text,
    before         jsonb,
    after          jsonb,
    request_id     text,
    source_address text
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);

CREATE TABLE alert_history (
    id            bigserial PRIMARY KEY,
    fingerprint   text NOT NULL,
    alertname     text NOT NULL,
    status        text NOT NULL CHECK (status IN ('firing', 'resolved')),
    severity      text,
    target        text,
    labels        jsonb NOT NULL,
    annotations   jsonb NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz,
    generator_url text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- One row per firing episode: a repeated delivery updates it instead of adding one.
    UNIQUE (fingerprint, starts_at)
);
CREATE INDEX alert_history_status ON alert_history (status, starts_at);

-- At most one row: the installed license and how its validation went.
CREATE TABLE license_state (
    id                     smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    license                text,
    license_id             text,
    installed_at           timestamptz,
    last_validation_at     timestamptz,
    last_validation_ok_at  timestamptz,
    validation_failures    bigint NOT NULL DEFAULT 0,
    last_error             text
);

-- Pollers LISTEN on this channel and reload the inventory when it fires. Statement-level
-- triggers: Postgres folds identical notifications of one transaction into one, so a bulk
-- import of 5,000 routers wakes each poller once.
CREATE FUNCTION ispmonitor_inventory_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('ispmonitor_inventory', TG_TABLE_NAME);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credentials
    FOR EACH STATEMENT EXECUTE FUNCTION ispmonitor_inventory_changed();
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION ispmonitor_inventory_changed();
CREATE TRIGGER device_modules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_modules
    FOR EACH STATEMENT EXECUTE FUNCTION ispmonitor_inventory_changed();
CREATE TRIGGER device_labels_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_labels
    FOR EACH STATEMENT EXECUTE FUNCTION ispmonitor_inventory_changed();
