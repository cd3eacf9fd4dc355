//! Every built-in metric family in one table: name, type, labels and help. Pollers and the
//! collector take their descriptors from here and docs/metrics.md is generated from it. A leaf
//! module: it depends on nothing else in the crate, so both `poller` and `metrics` can use it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Type of a metric family, as written in `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    Histogram,
}

/// Name, help and type of one exposed family. `name` is the full exposed name: counters end in
/// `_total` here, and the OpenMetrics encoder strips it from `# TYPE`/`# HELP` itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyDesc {
    pub name: Arc<str>,
    pub help: Arc<str>,
    pub metric_type: MetricType,
}

impl FamilyDesc {
    pub fn new(name: &str, help: &str, metric_type: MetricType) -> Arc<FamilyDesc> {
        Arc::new(FamilyDesc {
            name: name.into(),
            help: help.into(),
            metric_type,
        })
    }
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct FamilySpec {
    pub name: &'static str,
    pub metric_type: MetricType,
    /// Labels in exposition order (`target` first where it applies).
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// Heading in docs/metrics.md.
    pub section: &'static str,
}

const G: MetricType = MetricType::Gauge;
const C: MetricType = MetricType::Counter;
const H: MetricType = MetricType::Histogram;

const TARGET: &str = "Every target, every protocol";
const SNMP: &str = "SNMP (routers and switches)";
const SSH: &str = "SSH (Linux servers)";
const ROUTEROS: &str = "RouterOS API (MikroTik routers)";
const POLLER: &str = "The poller itself";
const ICMP: &str = "ICMP";
const API: &str = "API and database";
const LICENSE: &str = "License";
const ALERTS: &str = "Alerts (Alertmanager webhook)";
const PROCESS: &str = "The process (standard `process_*` families)";
const WEB: &str = "Protected endpoints (--web.config.file)";

macro_rules! spec {
    ($section:expr, $name:literal, $t:expr, [$($l:literal),*], $help:literal) => {
        FamilySpec { name: $name, metric_type: $t, labels: &[$($l),*], help: $help, section: $section }
    };
}

/// The catalogue. Order is the order of docs/metrics.md.
pub static CATALOG: &[FamilySpec] = &[
    spec!(TARGET, "ispmonitor_target_up", G, ["target", "protocol"],
        "1 if the last poll of the target with this protocol succeeded, 0 otherwise"),
    spec!(TARGET, "ispmonitor_target_last_success_timestamp_seconds", G, ["target", "protocol"],
        "Unix time of the target's last successful poll with this protocol"),
    spec!(TARGET, "ispmonitor_target_poll_duration_seconds", G, ["target", "protocol"],
        "How long the target's last poll with this protocol took"),
    spec!(TARGET, "ispmonitor_target_schedule_lag_seconds", G, ["target", "protocol"],
        "How late the target's last poll with this protocol started after its planned time"),
    spec!(TARGET, "ispmonitor_target_poll_failure_reason", G, ["target", "protocol", "reason"],
        "1 for the reason the target's last poll failed (absent after a success)"),
    spec!(TARGET, "ispmonitor_target_info", G, ["target", "kind", "address", "<target labels>"],
        "Inventory facts about a target, for joins; always 1"),
    spec!(SNMP, "ispmonitor_snmp_uptime_seconds", G, ["target"],
        "Time since the SNMP agent (re)started, from sysUpTime (1.3.6.1.2.1.1.3)"),
    spec!(SNMP, "ispmonitor_snmp_system_info", G, ["target", "sys_name", "sys_descr", "sys_object_id"],
        "SNMP system group: sysName, sysDescr, sysObjectID; always 1"),
    spec!(SNMP, "ispmonitor_interface_info", G, ["target", "interface", "ifindex", "alias", "type"],
        "Interface facts from ifName/ifDescr, ifAlias and ifType; always 1"),
    spec!(SNMP, "ispmonitor_interface_up", G, ["target", "interface"],
        "1 if ifOperStatus (1.3.6.1.2.1.2.2.1.8) is up"),
    spec!(SNMP, "ispmonitor_interface_admin_up", G, ["target", "interface"],
        "1 if ifAdminStatus (1.3.6.1.2.1.2.2.1.7) is up"),
    spec!(SNMP, "ispmonitor_interface_speed_bytes", G, ["target", "interface"],
        "Interface speed in bytes per second, from ifHighSpeed (or ifSpeed)"),
    spec!(SNMP, "ispmonitor_interface_receive_bytes_total", C, ["target", "interface"],
        "Bytes received, from ifHCInOctets (ifInOctets without ifXTable)"),
    spec!(SNMP, "ispmonitor_interface_transmit_bytes_total", C, ["target", "interface"],
        "Bytes transmitted, from ifHCOutOctets (ifOutOctets without ifXTable)"),
    spec!(SNMP, "ispmonitor_interface_receive_packets_total", C, ["target", "interface"],
        "Packets received: unicast + multicast + broadcast (HC counters when present)"),
    spec!(SNMP, "ispmonitor_interface_transmit_packets_total", C, ["target", "interface"],
        "Packets transmitted: unicast + multicast + broadcast (HC counters when present)"),
    spec!(SNMP, "ispmonitor_interface_receive_errors_total", C, ["target", "interface"],
        "Inbound packets with errors, from ifInErrors"),
    spec!(SNMP, "ispmonitor_interface_transmit_errors_total", C, ["target", "interface"],
        "Outbound packets that could not be sent because of errors, from ifOutErrors"),
    spec!(SNMP, "ispmonitor_interface_receive_discards_total", C, ["target", "interface"],
        "Inbound packets discarded without error, from ifInDiscards"),
    spec!(SNMP, "ispmonitor_interface_transmit_discards_total", C, ["target", "interface"],
        "Outbound packets discarded without error, from ifOutDiscards"),
    spec!(SNMP, "ispmonitor_cpu_load_ratio", G, ["target", "cpu"],
        "Processor load over the last minute, 0-1, from hrProcessorLoad / 100"),
    spec!(SNMP, "ispmonitor_storage_size_bytes", G, ["target", "storage", "type"],
        "Size of a storage area (RAM, disk), from hrStorageSize x hrStorageAllocationUnits"),
    spec!(SNMP, "ispmonitor_storage_used_bytes", G, ["target", "storage", "type"],
        "Used part of a storage area, from hrStorageUsed x hrStorageAllocationUnits"),
    spec!(SNMP, "ispmonitor_bgp_peer_state", G, ["target", "peer", "remote_as"],
        "BGP peer state from bgpPeerState: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established"),
    spec!(SNMP, "ispmonitor_snmp_requests_total", C, ["target"],
        "SNMP request datagrams sent to the target (retries included) since it was scheduled"),
    spec!(SNMP, "ispmonitor_snmp_retries_total", C, ["target"],
        "SNMP requests sent again after a timeout or a desynchronised session"),
    spec!(SNMP, "ispmonitor_snmp_timeouts_total", C, ["target"],
        "SNMP request attempts that got no answer in time"),
    spec!(SNMP, "ispmonitor_snmp_engine_discoveries_total", C, ["target"],
        "SNMPv3 engine discoveries, the first one included (more mean the session was rebuilt)"),
    spec!(SNMP, "ispmonitor_snmp_lookup_cache_hits_total", C, ["target"],
        "if_mib polls that reused the cached interface labels (ifName, ifDescr, ifAlias)"),
    spec!(SNMP, "ispmonitor_snmp_lookup_cache_misses_total", C, ["target"],
        "if_mib polls that walked the interface labels (first poll, refresh time, reboot, ifNumber or ifIndex change, or lookup_refresh 0)"),
    spec!(SNMP, "ispmonitor_snmp_max_message_size_bytes", G, ["target"],
        "SNMP message size the poller sizes GETBULK requests to: the agent's snmpEngineMaxMessageSize, else global.snmp.max_message_size"),
    spec!(ICMP, "ispmonitor_icmp_requests_total", C, ["target", "ip_version"],
        "ICMP echo requests sent to the target since it was configured"),
    spec!(ICMP, "ispmonitor_icmp_replies_total", C, ["target", "ip_version"],
        "ICMP echo replies received in time; loss is 1 - replies / requests over a window"),
    spec!(ICMP, "ispmonitor_icmp_rtt_seconds", H, ["target", "ip_version"],
        "Round-trip time of the echo replies received (50 us to 5 s buckets)"),
    spec!(ICMP, "ispmonitor_icmp_send_errors_total", C, ["ip_version"],
        "ICMP echo requests the kernel refused to send (no route, network unreachable, buffer full), all targets; each also counts as a request without reply"),
    spec!(ICMP, "ispmonitor_icmp_unmatched_replies_total", C, ["ip_version"],
        "ICMP echo replies and errors received for no waiting request: late after their timeout, or another pinger's on a RAW socket"),
    spec!(ICMP, "ispmonitor_icmp_socket_info", G, ["ip_version", "mode"],
        "ICMP socket kind in use per IP version: dgram (unprivileged), raw, or unavailable; always 1"),
    spec!(SSH, "ispmonitor_server_cpu_seconds_total", C, ["target", "mode"],
        "CPU time spent in each mode (user, nice, system, idle, iowait, irq, softirq, steal), summed over CPUs, from /proc/stat at USER_HZ 100"),
    spec!(SSH, "ispmonitor_server_cpus", G, ["target"],
        "Number of CPUs, from the cpuN lines of /proc/stat"),
    spec!(SSH, "ispmonitor_server_load1", G, ["target"],
        "1-minute load average, from /proc/loadavg"),
    spec!(SSH, "ispmonitor_server_load5", G, ["target"],
        "5-minute load average, from /proc/loadavg"),
    spec!(SSH, "ispmonitor_server_load15", G, ["target"],
        "15-minute load average, from /proc/loadavg"),
    spec!(SSH, "ispmonitor_server_memory_total_bytes", G, ["target"],
        "Usable RAM, from MemTotal in /proc/meminfo"),
    spec!(SSH, "ispmonitor_server_memory_available_bytes", G, ["target"],
        "Memory available for new work without swapping, from MemAvailable (MemFree + Buffers + Cached before Linux 3.14)"),
    spec!(SSH, "ispmonitor_server_swap_total_bytes", G, ["target"],
        "Swap space, from SwapTotal in /proc/meminfo"),
    spec!(SSH, "ispmonitor_server_swap_free_bytes", G, ["target"],
        "Unused swap space, from SwapFree in /proc/meminfo"),
    spec!(SSH, "ispmonitor_server_filesystem_size_bytes", G, ["target", "mountpoint", "device", "fstype"],
        "Size of a mounted filesystem, from df -P -k (pseudo filesystems skipped by default)"),
    spec!(SSH, "ispmonitor_server_filesystem_avail_bytes", G, ["target", "mountpoint", "device", "fstype"],
        "Space available to unprivileged users on a mounted filesystem, from df -P -k"),
    spec!(SSH, "ispmonitor_server_network_receive_bytes_total", C, ["target", "device"],
        "Bytes received by a network interface, from /proc/net/dev"),
    spec!(SSH, "ispmonitor_server_network_transmit_bytes_total", C, ["target", "device"],
        "Bytes transmitted by a network interface, from /proc/net/dev"),
    spec!(SSH, "ispmonitor_server_disk_read_bytes_total", C, ["target", "device"],
        "Bytes read from a whole disk (partitions, loop and ram devices left out), from /proc/diskstats sectors x 512"),
    spec!(SSH, "ispmonitor_server_disk_written_bytes_total", C, ["target", "device"],
        "Bytes written to a whole disk, from /proc/diskstats sectors x 512"),
    spec!(SSH, "ispmonitor_server_boot_time_seconds", G, ["target"],
        "Unix time the server booted, from btime in /proc/stat"),
    spec!(SSH, "ispmonitor_server_info", G, ["target", "kernel", "os"],
        "Kernel release (uname -r) and distribution (PRETTY_NAME of /etc/os-release); always 1"),
    spec!(SSH, "ispmonitor_server_ssh_connections_total", C, ["target"],
        "SSH connections the poller opened to the server; more than 1 means it had to reconnect"),
    spec!(ROUTEROS, "ispmonitor_routeros_pppoe_sessions", G, ["target"],
        "PPPoE sessions online, from a count-only print of /ppp/active ?service=pppoe"),
    spec!(ROUTEROS, "ispmonitor_routeros_dhcp_leases", G, ["target", "status"],
        "DHCP server leases by status (bound, waiting, offered, busy, testing, authorizing), one count-only print of /ip/dhcp-server/lease per status"),
    spec!(ROUTEROS, "ispmonitor_routeros_firewall_connections", G, ["target"],
        "Entries in the connection tracking table, from a count-only print of /ip/firewall/connection"),
    spec!(ROUTEROS, "ispmonitor_routeros_firewall_connections_max", G, ["target"],
        "Size limit of the connection tracking table, max-entries of /ip/firewall/connection/tracking (absent where the router does not report it)"),
    spec!(ROUTEROS, "ispmonitor_routeros_cpu_load_ratio", G, ["target"],
        "CPU load over all cores, 0-1, from cpu-load of /system/resource"),
    spec!(ROUTEROS, "ispmonitor_routeros_cpus", G, ["target"],
        "Number of CPU cores, from cpu-count of /system/resource"),
    spec!(ROUTEROS, "ispmonitor_routeros_memory_total_bytes", G, ["target"],
        "RAM, from total-memory of /system/resource"),
    spec!(ROUTEROS, "ispmonitor_routeros_memory_free_bytes", G, ["target"],
        "Free RAM, from free-memory of /system/resource"),
    spec!(ROUTEROS, "ispmonitor_routeros_uptime_seconds", G, ["target"],
        "Time since the router booted, from uptime of /system/resource"),
    spec!(ROUTEROS, "ispmonitor_routeros_system_info", G, ["target", "version", "board", "architecture"],
        "RouterOS version, board name and CPU architecture from /system/resource; always 1"),
    spec!(ROUTEROS, "ispmonitor_routeros_temperature_celsius", G, ["target", "sensor"],
        "Temperature sensors of /system/health (absent where the board has none)"),
    spec!(ROUTEROS, "ispmonitor_routeros_voltage_volts", G, ["target", "sensor"],
        "Voltage sensors of /system/health (absent where the board has none)"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_info", G, ["target", "interface", "interface_type"],
        "Interfaces of /interface with their type (ether, vlan, bridge...; subscribers' dynamic pppoe-in, l2tp-in... interfaces are left out); always 1"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_running", G, ["target", "interface"],
        "1 if the interface is running (link up and enabled), from running of /interface"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_receive_bytes_total", C, ["target", "interface"],
        "Bytes received, from rx-byte of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_transmit_bytes_total", C, ["target", "interface"],
        "Bytes transmitted, from tx-byte of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_receive_packets_total", C, ["target", "interface"],
        "Packets received, from rx-packet of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_transmit_packets_total", C, ["target", "interface"],
        "Packets transmitted, from tx-packet of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_receive_errors_total", C, ["target", "interface"],
        "Received packets with errors, from rx-error of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_transmit_errors_total", C, ["target", "interface"],
        "Packets that failed to send, from tx-error of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_receive_drops_total", C, ["target", "interface"],
        "Received packets dropped, from rx-drop of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_interface_transmit_drops_total", C, ["target", "interface"],
        "Packets dropped before sending, from tx-drop of /interface print stats"),
    spec!(ROUTEROS, "ispmonitor_routeros_connections_total", C, ["target"],
        "RouterOS API connections (with login) the poller opened to the router; more than 1 means it had to reconnect"),
    spec!(ROUTEROS, "ispmonitor_routeros_command_traps_total", C, ["target", "command"],
        "Commands the router answered with !trap (missing package, no permission, unsupported menu); that command's families are left out of the poll"),
    spec!(POLLER, "ispmonitor_build_info", G, ["version", "revision", "rustc_version"],
        "Build facts of this ispmonitor binary; always 1"),
    spec!(POLLER, "ispmonitor_polls_total", C, ["protocol", "result"],
        "Polls finished, by protocol and result (success or the failure reason)"),
    spec!(POLLER, "ispmonitor_poll_duration_seconds", H, ["protocol", "result"],
        "Duration of finished polls"),
    spec!(POLLER, "ispmonitor_poll_errors_total", C, ["protocol", "reason"],
        "Failed polls by reason: timeout, unreachable, auth, protocol_error, parse_error, host_key_mismatch, command_failed, tls_error"),
    spec!(POLLER, "ispmonitor_poll_schedule_lag_seconds", H, ["protocol"],
        "How late polls started compared with their planned time"),
    spec!(POLLER, "ispmonitor_polls_skipped_total", C, ["protocol"],
        "Planned polls skipped because the previous one, or the wait for a free slot, ran past them"),
    spec!(POLLER, "ispmonitor_active_pollers", G, ["protocol"],
        "Polls running right now"),
    spec!(POLLER, "ispmonitor_queued_polls", G, ["protocol"],
        "Polls due and waiting for a free concurrency slot"),
    spec!(POLLER, "ispmonitor_routers_total", G, ["status"],
        "Routers by status: online (last polls succeeded), offline (a last poll failed), unknown (not polled yet)"),
    spec!(POLLER, "ispmonitor_servers_total", G, ["status"],
        "Servers by status: online, offline, unknown"),
    spec!(POLLER, "ispmonitor_config_last_reload_successful", G, [],
        "1 if the last config (re)load succeeded, 0 if it was refused"),
    spec!(POLLER, "ispmonitor_config_last_reload_success_timestamp_seconds", G, [],
        "Unix time of the last successful config (re)load"),
    spec!(POLLER, "ispmonitor_inventory_targets", G, ["kind", "source"],
        "Targets in the inventory by kind and source (file or database)"),
    spec!(POLLER, "ispmonitor_inventory_last_sync_success_timestamp_seconds", G, [],
        "Unix time the inventory was last loaded successfully"),
    spec!(POLLER, "ispmonitor_inventory_sync_failures_total", C, [],
        "Failed attempts to connect to the database, listen for changes or read the inventory (the last inventory is kept)"),
    spec!(POLLER, "ispmonitor_inventory_invalid_targets", G, [],
        "Database devices left out of the inventory because they do not validate (unknown module, unreadable credential...); the log names them"),
    spec!(POLLER, "ispmonitor_inventory_cache_writes_total", C, [],
        "Writes of the database inventory to database.inventory_cache_file (after each read that changed it), failed ones included"),
    spec!(POLLER, "ispmonitor_inventory_cache_write_failures_total", C, [],
        "Failed writes of database.inventory_cache_file (the log names the path and the error; polling and the sync carry on)"),
    spec!(POLLER, "ispmonitor_inventory_from_cache", G, [],
        "1 while the database inventory in force was loaded from database.inventory_cache_file at start and the database has not answered yet, else 0"),
    spec!(POLLER, "ispmonitor_shard_ordinal", G, [],
        "This poller's shard number (0-based)"),
    spec!(POLLER, "ispmonitor_shard_total", G, [],
        "How many shards split the inventory"),
    spec!(WEB, "ispmonitor_web_config_last_reload_successful", G, ["listener"],
        "1 if the last (re)read of --web.config.file and its certificate files succeeded, 0 if it was refused (the previous one stays in force); listener is web or api"),
    spec!(WEB, "ispmonitor_web_config_last_reload_success_timestamp_seconds", G, ["listener"],
        "Unix time of the last successful (re)read of --web.config.file"),
    spec!(WEB, "ispmonitor_web_config_reload_failures_total", C, ["listener"],
        "Rereads of --web.config.file (or its certificate, key or CA files) that were refused"),
    spec!(WEB, "ispmonitor_web_tls_handshake_failures_total", C, ["listener"],
        "TLS handshakes that failed or timed out (plain HTTP to the TLS port, unknown CA, missing client certificate...)"),
    spec!(WEB, "ispmonitor_web_basic_auth_failures_total", C, ["listener"],
        "Requests answered 401 because basic_auth_users did not accept their credentials"),
    // The standard process collector's families, with client_golang's names and HELP text
    // (full stop included) so they read the same as every other exporter's; from /proc/self,
    // left out where it cannot be read.
    spec!(PROCESS, "process_cpu_seconds_total", C, [],
        "Total user and system CPU time spent in seconds."),
    spec!(PROCESS, "process_resident_memory_bytes", G, [],
        "Resident memory size in bytes."),
    spec!(PROCESS, "process_virtual_memory_bytes", G, [],
        "Virtual memory size in bytes."),
    spec!(PROCESS, "process_open_fds", G, [],
        "Number of open file descriptors."),
    spec!(PROCESS, "process_max_fds", G, [],
        "Maximum number of open file descriptors."),
    spec!(PROCESS, "process_start_time_seconds", G, [],
        "Start time of the process since unix epoch in seconds."),
    spec!(PROCESS, "process_threads", G, [],
        "Number of OS threads in the process."),
    spec!(API, "ispmonitor_http_requests_total", C, ["method", "endpoint", "status"],
        "Requests the inventory API answered, by method, route template (unmatched for unknown paths) and status code"),
    spec!(API, "ispmonitor_http_request_duration_seconds", H, ["method", "endpoint"],
        "Time the inventory API took to answer, by method and route template (5 ms to 30 s buckets)"),
    spec!(API, "ispmonitor_http_requests_in_flight", G, [],
        "Inventory API requests being answered right now"),
    spec!(API, "ispmonitor_db_connections", G, ["state"],
        "Connections of the API's PostgreSQL pool: active (in use) or idle"),
    spec!(API, "ispmonitor_audit_entries_deleted_total", C, [],
        "Audit log entries deleted for being older than api.audit_retention"),
    spec!(LICENSE, "ispmonitor_license_valid", G, [],
        "1 while the license grants its limits (state valid or grace), 0 otherwise (unlicensed, expired, invalid, revoked...)"),
    spec!(LICENSE, "ispmonitor_license_state", G, ["state"],
        "1 for the license's current state, 0 for the others: unlicensed, valid, grace, invalid, not_yet_valid, expired, revoked, validation_overdue"),
    spec!(LICENSE, "ispmonitor_license_info", G, ["license_id", "plan", "customer"],
        "The installed license (verified); always 1, absent when none is installed"),
    spec!(LICENSE, "ispmonitor_license_days_until_expiry", G, [],
        "Days until the installed license expires (fractional, negative once expired); absent without a license"),
    spec!(LICENSE, "ispmonitor_license_expiry_timestamp_seconds", G, [],
        "Unix time the installed license expires; absent without a license"),
    spec!(LICENSE, "ispmonitor_license_router_limit", G, [],
        "Routers the API inventory may hold under the limits in force (-1 unlimited; the starter plan's 10 without a valid license)"),
    spec!(LICENSE, "ispmonitor_license_routers_used", G, [],
        "Routers in the API (database) inventory; config-file routers are not counted"),
    spec!(LICENSE, "ispmonitor_license_server_limit", G, [],
        "Servers the API inventory may hold under the limits in force (-1 unlimited)"),
    spec!(LICENSE, "ispmonitor_license_servers_used", G, [],
        "Servers in the API (database) inventory"),
    spec!(LICENSE, "ispmonitor_license_user_limit", G, [],
        "Live API tokens allowed under the limits in force (-1 unlimited)"),
    spec!(LICENSE, "ispmonitor_license_users_used", G, [],
        "Live (unrevoked) API tokens"),
    spec!(LICENSE, "ispmonitor_license_validations_total", C, ["result"],
        "Online license validations by this process, by result: success, revoked, failure"),
    spec!(LICENSE, "ispmonitor_license_last_validation_success_timestamp_seconds", G, [],
        "Unix time of the last successful online validation (from the database, so any replica's); absent before the first"),
    spec!(LICENSE, "ispmonitor_license_grace_end_timestamp_seconds", G, [],
        "While online validation is failing: the Unix time the grace period ends; absent otherwise"),
    spec!(ALERTS, "ispmonitor_alerts_active", G, ["severity"],
        "Alerts in the API's alert history that are firing and not past their end, by severity label: critical, warning, info, other (any other value) or none (no label); re-read from the database every 10 s and after each delivery, absent until first read"),
    spec!(ALERTS, "ispmonitor_alerts_received_total", C, ["status"],
        "Alerts in the Alertmanager deliveries this process accepted, by the alert's status (firing or resolved); repeated deliveries of the same alert count each time"),
];

static DESCS: LazyLock<HashMap<&'static str, Arc<FamilyDesc>>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .map(|s| (s.name, FamilyDesc::new(s.name, s.help, s.metric_type)))
        .collect()
});

/// The descriptor of a catalogue family. Panics on a name that is not in the catalogue: that
/// is a programming error caught by every test that encodes the family.
pub fn desc(name: &str) -> Arc<FamilyDesc> {
    match DESCS.get(name) {
        Some(d) => d.clone(),
        None => panic!("metric family {name} is not in catalog::CATALOG"),
    }
}

/// The catalogue row of a family. Panics on an unknown name, like `desc`.
pub fn spec(name: &str) -> &'static FamilySpec {
    match CATALOG.iter().find(|s| s.name == name) {
        Some(s) => s,
        None => panic!("metric family {name} is not in catalog::CATALOG"),
    }
}

/// docs/metrics.md, generated from the catalogue.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metrics\n\n\
         Generated from `src/catalog.rs` by `cargo run -- metrics-doc > docs/metrics.md`; \
         a test fails when this file is stale.\n\n\
         Counters end in `_total`, units are base units (seconds, bytes, ratios 0-1). `target` is the \
         inventory name of the polled device. `job` and `instance` are never emitted: Prometheus owns \
         them. Families of user-defined SNMP modules are named `ispmonitor_<name>` as configured.\n",
    );
    let mut section = "";
    for spec in CATALOG {
        if spec.section != section {
            section = spec.section;
            out.push_str(&format!(
                "\n## {section}\n\n| family | type | labels | meaning |\n|---|---|---|---|\n"
            ));
        }
        let t = match spec.metric_type {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            spec.name,
            t,
            spec.labels.join(", "),
            spec.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for spec in CATALOG {
            assert!(seen.insert(spec.name), "{} twice", spec.name);
            // CONVENTIONS.md E2: the standard process collector's families keep their names.
            let standard = spec.name.starts_with("process_");
            assert!(
                spec.name.starts_with("ispmonitor_") || standard,
                "{}",
                spec.name
            );
            assert!(!spec.name.contains(':'), "{}", spec.name);
            let is_counter = spec.metric_type == MetricType::Counter;
            // The metric contract (shared/METRICS.md) names these gauges with `_total`;
            // dashboards depend on the names, so they are the only allowed exceptions.
            let contract_gauges = [
                "ispmonitor_routers_total",
                "ispmonitor_servers_total",
                "ispmonitor_shard_total",
            ];
            if !contract_gauges.contains(&spec.name) {
                assert_eq!(spec.name.ends_with("_total"), is_counter, "{}", spec.name);
            }
            for bad in ["bits", "percent", "milliseconds", "mbps"] {
                assert!(!spec.name.contains(bad), "{}", spec.name);
            }
            for label in spec.labels {
                assert!(!["job", "instance", "le"].contains(label), "{}", spec.name);
            }
            // The standard families keep client_golang's HELP text, full stop included.
            assert!(
                !spec.help.ends_with('.') || standard,
                "{}: help must not end with '.'",
                spec.name
            );
        }
    }

    #[test]
    fn docs_metrics_md_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == markdown(),
            "docs/metrics.md is stale: run `cargo run -- metrics-doc > docs/metrics.md`"
        );
    }
}
