-- ispmonitor schema, version 5: RouterOS API credentials (MikroTik) beside SNMP and SSH ones.
ALTER TABLE credentials DROP CONSTRAINT credentials_type_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_type_check
    CHECK (type IN ('snmp', 'ssh', 'routeros'));
