//! A logged-in command to its reply sentences: the print menus the poller reads, with
//! `=count-only=`, `?queries` and `=.proplist=`, and traps for what the simulator does not know.

use crate::poller::routeros::word::{encode_reply, Command};
use crate::simulator::device::{ApiInterface, ApiView, Identity};

use super::model::{format_uptime, ApiModel, UptimeFormat, LEASE_STATUSES};

/// One row: attribute names and values in RouterOS's order.
pub type Row = Vec<(&'static str, String)>;

/// Reply sentences, produced as they are written (a conntrack print can be a million rows).
pub type Sentences = Box<dyn Iterator<Item = Vec<u8>> + Send>;

/// What a device knows at the moment a command arrives.
pub struct Router<'a> {
    pub identity: &'a Identity,
    pub model: &'a ApiModel,
    pub view: ApiView,
    pub uptime_format: UptimeFormat,
}

/// A menu's rows, computed on demand.
struct Table {
    len: usize,
    row: Box<dyn Fn(usize) -> Row + Send + Sync>,
}

impl Table {
    fn from_rows(rows: Vec<Row>) -> Table {
        Table {
            len: rows.len(),
            row: Box::new(move |i| rows[i].clone()),
        }
    }
}

/// `!trap` with a message, then the `!done` RouterOS always sends after one.
pub fn trap(message: &str, tag: Option<&str>) -> Vec<Vec<u8>> {
    vec![
        encode_reply("!trap", &[("message", message)], tag),
        encode_reply("!done", &[], tag),
    ]
}

/// The reply to `command` (login already done), or `None` for a path no menu has.
pub fn respond(command: &Command, router: &Router) -> Sentences {
    let tag = command.tag.clone();
    let table = match command.path.as_str() {
        "/ppp/active/print" => ppp_active(router),
        "/ip/dhcp-server/lease/print" => dhcp_leases(router),
        "/ip/firewall/connection/print" => connections(router),
        "/ip/firewall/connection/tracking/print" => Table::from_rows(vec![tracking(router)]),
        "/system/resource/print" => Table::from_rows(vec![resource(router)]),
        "/system/health/print" => health(router),
        "/system/identity/print" => {
            Table::from_rows(vec![vec![("name", router.identity.sys_name.clone())]])
        }
        "/interface/print" => interfaces(&router.view.interfaces),
        "/cancel" => return Box::new(done_only(tag)),
        _ => return Box::new(trap("no such command prefix", tag.as_deref()).into_iter()),
    };
    match print(table, command) {
        Ok(sentences) => sentences,
        Err(message) => Box::new(trap(&message, tag.as_deref()).into_iter()),
    }
}

fn done_only(tag: Option<String>) -> impl Iterator<Item = Vec<u8>> + Send {
    std::iter::once(encode_reply("!done", &[], tag.as_deref()))
}

/// One `?` query word.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    Equals(String, String),
    Has(String),
    Lacks(String),
}

fn parse_query(word: &str) -> Result<Query, String> {
    if word.starts_with(['#', '<', '>']) {
        return Err(format!("unsupported query operation {word:?} (the simulator knows ?name=value, ?name and ?-name)"));
    }
    let word = word.strip_prefix('=').unwrap_or(word);
    if let Some(name) = word.strip_prefix('-') {
        return Ok(Query::Lacks(name.to_string()));
    }
    Ok(match word.split_once('=') {
        Some((name, value)) => Query::Equals(name.to_string(), value.to_string()),
        None => Query::Has(word.to_string()),
    })
}

/// RouterOS without `?#` operators: every query must hold.
fn matches(row: &Row, queries: &[Query]) -> bool {
    let value = |name: &str| row.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
    queries.iter().all(|query| match query {
        Query::Equals(name, wanted) => value(name) == Some(wanted),
        Query::Has(name) => value(name).is_some(),
        Query::Lacks(name) => value(name).is_none(),
    })
}

fn print(table: Table, command: &Command) -> Result<Sentences, String> {
    let queries = command
        .queries
        .iter()
        .map(|q| parse_query(q))
        .collect::<Result<Vec<_>, _>>()?;
    let tag = command.tag.clone();
    if command.get("count-only").is_some() {
        let count = if queries.is_empty() {
            table.len
        } else {
            (0..table.len)
                .filter(|&i| matches(&(table.row)(i), &queries))
                .count()
        };
        let done = encode_reply("!done", &[("ret", &count.to_string())], tag.as_deref());
        return Ok(Box::new(std::iter::once(done)));
    }
    let proplist: Option<Vec<String>> = command
        .get(".proplist")
        .map(|list| list.split(',').map(str::to_string).collect());
    let done = encode_reply("!done", &[], tag.as_deref());
    let rows = (0..table.len).filter_map(move |i| {
        let row = (table.row)(i);
        if !matches(&row, &queries) {
            return None;
        }
        let shown: Vec<(&str, &str)> = row
            .iter()
            .filter(|(name, _)| {
                proplist
                    .as_ref()
                    .is_none_or(|l| l.iter().any(|p| p == name))
            })
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        Some(encode_reply("!re", &shown, tag.as_deref()))
    });
    Ok(Box::new(rows.chain(std::iter::once(done))))
}

fn yes_no(flag: bool) -> String {
    if flag { "true" } else { "false" }.to_string()
}

/// A locally administered MAC address numbered `n` within `space`.
fn mac(space: u8, n: usize) -> String {
    let b = (n as u32).to_be_bytes();
    format!(
        "02:{space:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
        b[0], b[1], b[2], b[3]
    )
}

/// The `n`th address after `base` (an IPv4 address as a number).
fn address(base: u32, n: usize) -> String {
    std::net::Ipv4Addr::from(base.wrapping_add(n as u32)).to_string()
}

const CGNAT: u32 = 0x6440_0002; // 100.64.0.2
const CUSTOMER_LAN: u32 = 0x0A40_0002; // 10.64.0.2

fn ppp_active(router: &Router) -> Table {
    let sessions = router.model.sessions(&router.view);
    let pppoe = sessions.pppoe as usize;
    let uptime_format = router.uptime_format;
    let uptime = router.view.uptime_seconds;
    Table {
        len: sessions.total() as usize,
        row: Box::new(move |i| {
            let service = if i < pppoe { "pppoe" } else { "l2tp" };
            // Sessions came up at different times, none before the router.
            let up = uptime.saturating_sub((i as u64 * 7_919) % uptime.max(1));
            vec![
                (".id", format!("*{:X}", 0x8000_0000u64 + i as u64)),
                ("name", format!("cust-{}", 100_000 + i)),
                ("service", service.to_string()),
                ("caller-id", mac(0x50, i)),
                ("address", address(CGNAT, i)),
                ("uptime", format_uptime(up, uptime_format)),
                ("encoding", String::new()),
                ("session-id", format!("0x81{:06X}", i)),
                ("limit-bytes-in", "0".to_string()),
                ("limit-bytes-out", "0".to_string()),
                ("radius", "true".to_string()),
            ]
        }),
    }
}

fn dhcp_leases(router: &Router) -> Table {
    let counts = router.model.leases(&router.view);
    // Row i's status: the statuses in LEASE_STATUSES order, each for its count of rows.
    let mut bounds = Vec::with_capacity(counts.len());
    let mut end = 0usize;
    for (count, (status, _)) in counts.iter().zip(LEASE_STATUSES) {
        end += *count as usize;
        bounds.push((end, status));
    }
    Table {
        len: end,
        row: Box::new(move |i| {
            let status = bounds
                .iter()
                .find(|(end, _)| i < *end)
                .map_or("bound", |(_, s)| s);
            vec![
                (".id", format!("*{:X}", i + 1)),
                ("address", address(CUSTOMER_LAN, i)),
                ("mac-address", mac(0x60, i)),
                ("server", "dhcp-customers".to_string()),
                ("dynamic", "true".to_string()),
                ("status", status.to_string()),
                ("expires-after", format!("{}m{}s", 5 + i % 55, i % 60)),
                ("host-name", format!("cpe-{i}")),
            ]
        }),
    }
}

fn connections(router: &Router) -> Table {
    let total = router.model.connections(&router.view) as usize;
    Table {
        len: total,
        row: Box::new(move |i| {
            let udp = i % 5 == 0;
            vec![
                (".id", format!("*{:X}", i + 1)),
                ("protocol", if udp { "udp" } else { "tcp" }.to_string()),
                (
                    "src-address",
                    format!("{}:{}", address(CGNAT, i / 100), 1_024 + i % 60_000),
                ),
                (
                    "dst-address",
                    format!(
                        "{}:{}",
                        address(0xC633_6400, i % 200),
                        if udp { 53 } else { 443 }
                    ),
                ),
                (
                    "tcp-state",
                    if udp { "" } else { "established" }.to_string(),
                ),
                ("timeout", format!("{}s", 10 + i % 300)),
                ("assured", "true".to_string()),
            ]
        }),
    }
}

fn tracking(router: &Router) -> Row {
    vec![
        ("enabled", "auto".to_string()),
        ("active-ipv4", "true".to_string()),
        ("max-entries", router.model.max_entries.to_string()),
        (
            "total-entries",
            router.model.connections(&router.view).to_string(),
        ),
        ("tcp-established-timeout", "1d".to_string()),
        ("udp-timeout", "30s".to_string()),
        ("generic-timeout", "10m".to_string()),
        ("loose-tcp-tracking", "true".to_string()),
    ]
}

fn resource(router: &Router) -> Row {
    let view = &router.view;
    let vendor = router.identity.vendor;
    vec![
        (
            "uptime",
            format_uptime(view.uptime_seconds, router.uptime_format),
        ),
        ("version", format!("{} (stable)", router.identity.version)),
        ("build-time", "2024-11-20 10:04:11".to_string()),
        ("factory-software", "7.1".to_string()),
        ("free-memory", view.memory_free.to_string()),
        ("total-memory", view.memory_total.to_string()),
        ("cpu", "ARM64".to_string()),
        ("cpu-count", view.cpus.to_string()),
        ("cpu-frequency", "1700".to_string()),
        ("cpu-load", view.cpu_load.to_string()),
        ("free-hdd-space", view.hdd_free.to_string()),
        ("total-hdd-space", view.hdd_total.to_string()),
        ("architecture-name", "arm64".to_string()),
        ("board-name", vendor.model.to_string()),
        ("platform", "MikroTik".to_string()),
    ]
}

fn health(router: &Router) -> Table {
    let rows = router
        .model
        .health(&router.view)
        .into_iter()
        .enumerate()
        .map(|(i, sensor)| {
            vec![
                (".id", format!("*{:X}", i + 1)),
                ("name", sensor.name.to_string()),
                ("value", sensor.value),
                ("type", sensor.unit.to_string()),
            ]
        })
        .collect();
    Table::from_rows(rows)
}

fn interfaces(interfaces: &[ApiInterface]) -> Table {
    let rows = interfaces
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mtu = if row.kind == "loopback" {
                65_536
            } else {
                1_500
            };
            vec![
                (".id", format!("*{:X}", i + 1)),
                ("name", row.name.clone()),
                ("default-name", row.name.clone()),
                ("type", row.kind.to_string()),
                ("mtu", mtu.to_string()),
                ("actual-mtu", mtu.to_string()),
                ("rx-byte", row.rx_bytes.to_string()),
                ("tx-byte", row.tx_bytes.to_string()),
                ("rx-packet", row.rx_packets.to_string()),
                ("tx-packet", row.tx_packets.to_string()),
                ("rx-error", row.rx_errors.to_string()),
                ("tx-error", row.tx_errors.to_string()),
                ("rx-drop", row.rx_drops.to_string()),
                ("tx-drop", row.tx_drops.to_string()),
                ("running", yes_no(row.running)),
                ("disabled", yes_no(row.disabled)),
            ]
        })
        .collect();
    Table::from_rows(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::routeros::word::{take_sentence, Reply, ReplyKind};

    fn decode(sentences: Sentences) -> Vec<Reply> {
        let mut bytes: Vec<u8> = sentences.flatten().collect();
        let mut replies = Vec::new();
        while let Some(words) = take_sentence(&mut bytes).unwrap() {
            replies.push(Reply::parse(&words).unwrap());
        }
        assert!(bytes.is_empty());
        replies
    }

    fn row(pairs: &[(&'static str, &str)]) -> Row {
        pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
    }

    #[test]
    fn queries_parse_and_all_must_hold() {
        let r = row(&[("service", "pppoe"), ("name", "a")]);
        let q = |words: &[&str]| -> Vec<Query> {
            words.iter().map(|w| parse_query(w).unwrap()).collect()
        };
        assert!(matches(&r, &q(&["service=pppoe"])));
        assert!(matches(&r, &q(&["=service=pppoe", "name"])));
        assert!(!matches(&r, &q(&["service=pppoe", "name=b"])));
        assert!(matches(&r, &q(&["-comment"])));
        assert!(!matches(&r, &q(&["-name"])));
        assert!(parse_query("#|").unwrap_err().contains("unsupported"));
    }

    #[test]
    fn prints_count_filter_and_honour_the_proplist() {
        let table = || {
            Table::from_rows(vec![
                row(&[("name", "a"), ("status", "bound"), ("x", "1")]),
                row(&[("name", "b"), ("status", "waiting"), ("x", "2")]),
                row(&[("name", "c"), ("status", "bound"), ("x", "3")]),
            ])
        };
        let count = Command::new("/p")
            .attribute("count-only", "")
            .query("status=bound")
            .tagged("9");
        let replies = decode(print(table(), &count).unwrap());
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].kind, ReplyKind::Done);
        assert_eq!(replies[0].get("ret"), Some("2"));
        assert_eq!(replies[0].tag.as_deref(), Some("9"));
        let full = Command::new("/p")
            .attribute(".proplist", "name,status")
            .query("status=bound")
            .tagged("t");
        let replies = decode(print(table(), &full).unwrap());
        let names: Vec<_> = replies.iter().filter_map(|r| r.get("name")).collect();
        assert_eq!(names, ["a", "c"]);
        assert!(replies.iter().all(|r| r.get("x").is_none()));
        assert!(replies.iter().all(|r| r.tag.as_deref() == Some("t")));
        assert_eq!(replies.last().unwrap().kind, ReplyKind::Done);
        let bad = Command::new("/p").query("#|");
        assert!(print(table(), &bad).is_err());
    }

    #[test]
    fn traps_are_followed_by_done_with_the_tag() {
        let mut bytes: Vec<u8> = trap("no such command prefix", Some("4")).concat();
        let first = Reply::parse(&take_sentence(&mut bytes).unwrap().unwrap()).unwrap();
        let second = Reply::parse(&take_sentence(&mut bytes).unwrap().unwrap()).unwrap();
        assert_eq!(first.kind, ReplyKind::Trap);
        assert_eq!(first.get("message"), Some("no such command prefix"));
        assert_eq!(
            (second.kind, second.tag.as_deref()),
            (ReplyKind::Done, Some("4"))
        );
    }
}
