-- ispmonitor schema, version 2: a database device may use a credential of the YAML file (its
-- secrets then stay in the file or a mounted secret). `credential_id` cannot point at one, so the
-- file credential's name is kept as the file spells it. A device has at most one credential;
-- readers take `coalesce(credentials.name, devices.file_credential)`.

ALTER TABLE devices ADD COLUMN file_credential text;
ALTER TABLE devices ADD CONSTRAINT devices_one_credential
    CHECK (credential_id IS NULL OR file_credential IS NULL);
