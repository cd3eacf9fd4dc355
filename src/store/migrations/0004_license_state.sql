-- ispmonitor schema, version 4: what the license service needs beyond version 1's columns.
-- `validation_failures` now counts consecutive failures since the last success.
ALTER TABLE license_state
    -- 'api' (PUT /api/v1/license) or 'file' (license.file in the config).
    ADD COLUMN source        text CHECK (source IN ('api', 'file')),
    -- The first failed online validation since the last success: the grace baseline when the
    -- license was never validated successfully.
    ADD COLUMN failing_since timestamptz,
    -- The license server answered 403 (cleared by a later success).
    ADD COLUMN revoked_at    timestamptz;

