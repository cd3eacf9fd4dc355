-- ispmonitor schema, version 3: a device name is unique across kinds, not only within one. The
-- poller's `target` label is the name, so a router and a server sharing one would merge their
-- series.
CREATE UNIQUE INDEX devices_name_unique ON devices (name);
