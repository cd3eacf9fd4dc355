//! A host in a network namespace the test creates: a veth pair to it on a private /30 from
//! 10.200.0.0/16, ways to cut it, add loss, or make it answer with ICMP errors. Everything is
//! deleted on drop, also when the test fails. Needs root and iproute2 (`ip`, `tc`); a missing
//! binary fails the test.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

static NEXT: AtomicU32 = AtomicU32::new(0);
/// Blocks taken by this process's tests (a spare block is routed only later, so the routing
/// table alone cannot tell), and the lock that serialises choosing them.
static TAKEN: Mutex<Vec<Ipv4Addr>> = Mutex::new(Vec::new());

/// Runs a command and returns its stdout; panics with its stderr when it fails or is missing.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install iproute2): {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A /30 block of 10.200.0.0/16 (16384 of them): its network address.
fn block(index: u32) -> Ipv4Addr {
    let index = index % 16384;
    Ipv4Addr::new(10, 200, (index / 64) as u8, ((index % 64) * 4) as u8)
}

fn offset(network: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(network) + n)
}

/// `count` /30 blocks nobody on this machine uses yet (checked against the routing table and
/// this process's earlier picks).
fn free_blocks(count: usize) -> Vec<Ipv4Addr> {
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let routes = run("ip", &["-4", "route", "show", "table", "all"]);
    let start = std::process::id().wrapping_mul(97);
    let blocks: Vec<Ipv4Addr> = (0..16384u32)
        .map(|i| block(start.wrapping_add(i)))
        .filter(|network| {
            let prefix = format!("{network}/30");
            !taken.contains(network) && !routes.lines().any(|line| line.contains(&prefix))
        })
        .take(count)
        .collect();
    taken.extend(&blocks);
    blocks
}

/// A namespace whose host answers pings at `ns_ip`, reached from the root namespace through
/// `host_dev` (`host_ip`).
pub struct NetnsHost {
    pub netns: String,
    pub host_dev: String,
    pub ns_dev: String,
    pub host_ip: Ipv4Addr,
    pub ns_ip: Ipv4Addr,
    /// A second /30 routed through the namespace, for `answer_unreachable`.
    spare_block: Ipv4Addr,
}

impl NetnsHost {
    pub fn create() -> NetnsHost {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let blocks = free_blocks(2);
        let network = blocks[0];
        let host = NetnsHost {
            netns: format!("ispm-icmp-{id}"),
            // Interface names are at most 15 characters.
            host_dev: format!("ih{id}"),
            ns_dev: format!("in{id}"),
            host_ip: offset(network, 1),
            ns_ip: offset(network, 2),
            spare_block: blocks[1],
        };
        assert!(host.host_dev.len() <= 15, "{}", host.host_dev);
        host.set_up();
        host
    }

    fn set_up(&self) {
        let (host_cidr, ns_cidr) = (format!("{}/30", self.host_ip), format!("{}/30", self.ns_ip));
        run("ip", &["netns", "add", &self.netns]);
        run(
            "ip",
            &[
                "link",
                "add",
                &self.host_dev,
                "type",
                "veth",
                "peer",
                "name",
                &self.ns_dev,
            ],
        );
        run("ip", &["link", "set", &self.ns_dev, "netns", &self.netns]);
        run("ip", &["addr", "add", &host_cidr, "dev", &self.host_dev]);
        run("ip", &["link", "set", &self.host_dev, "up"]);
        self.in_ns(&["ip", "addr", "add", &ns_cidr, "dev", &self.ns_dev]);
        self.in_ns(&["ip", "link", "set", &self.ns_dev, "up"]);
        self.in_ns(&["ip", "link", "set", "lo", "up"]);
        // A permanent neighbour entry: no ARP that netem could drop, and no "host unreachable"
        // the kernel would generate itself once ARP fails after a cut; a cut host is silent.
        let mac_path = format!("/sys/class/net/{}/address", self.ns_dev);
        let mac = self.in_ns(&["cat", &mac_path]);
        run(
            "ip",
            &[
                "neigh",
                "replace",
                &self.ns_ip.to_string(),
                "lladdr",
                mac.trim(),
                "dev",
                &self.host_dev,
                "nud",
                "permanent",
            ],
        );
    }

    /// Runs a command inside the namespace.
    pub fn in_ns(&self, command: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.netns];
        args.extend_from_slice(command);
        run("ip", &args)
    }

    /// Cuts the host off: its side of the link goes down. The root side keeps its address and
    /// route, so the echo requests are dropped silently and never leak to a default route.
    pub fn cut(&self) {
        self.in_ns(&["ip", "link", "set", &self.ns_dev, "down"]);
    }

    /// Drops `percent` % of the echo requests at random, and says how: `tc netem` on the root
    /// side of the link, or, on kernels built without sch_netem (like the Firecracker kernel of
    /// this project's machines), an nftables rule in the namespace that drops that share of
    /// the echo requests with `numgen random` (both draw every packet independently).
    pub fn add_loss(&self, percent: u32) -> &'static str {
        let loss = format!("{percent}%");
        let netem = Command::new("tc")
            .args([
                "qdisc",
                "add",
                "dev",
                &self.host_dev,
                "root",
                "netem",
                "loss",
                &loss,
            ])
            .output()
            .expect("cannot run tc (install iproute2)");
        if netem.status.success() {
            return "tc netem";
        }
        let why = String::from_utf8_lossy(&netem.stderr);
        assert!(
            why.contains("qdisc kind is unknown"),
            "tc netem failed: {why}"
        );
        let drop_share = format!("{percent}");
        self.in_ns(&["nft", "add", "table", "ip", "loss"]);
        self.in_ns(&[
            "nft",
            "add",
            "chain",
            "ip",
            "loss",
            "input",
            "{ type filter hook input priority 0 ; policy accept ; }",
        ]);
        self.in_ns(&[
            "nft",
            "add",
            "rule",
            "ip",
            "loss",
            "input",
            "icmp",
            "type",
            "echo-request",
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            &drop_share,
            "drop",
        ]);
        "nftables numgen random (this kernel has no netem)"
    }

    /// Drops `percent` % of the UDP datagrams arriving in the namespace for `port`, drawn
    /// independently (nftables `numgen random`, which works without sch_netem). Replaces an
    /// earlier UDP loss rule; `percent` 0 removes it.
    pub fn set_udp_loss(&self, port: u16, percent: u32) {
        // Deleting a table that is not there fails: start from a known state either way.
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "nft",
                "delete",
                "table",
                "ip",
                "udploss",
            ])
            .output();
        if percent == 0 {
            return;
        }
        self.in_ns(&["nft", "add", "table", "ip", "udploss"]);
        self.in_ns(&[
            "nft",
            "add",
            "chain",
            "ip",
            "udploss",
            "input",
            "{ type filter hook input priority 0 ; policy accept ; }",
        ]);
        let (port, share) = (port.to_string(), percent.to_string());
        let mut rule = vec![
            "nft", "add", "rule", "ip", "udploss", "input", "udp", "dport", &port,
        ];
        // nftables knows `numgen random mod 100` yields 0 to 99: `< 100` is refused.
        if percent < 100 {
            rule.extend(["numgen", "random", "mod", "100", "<", &share]);
        }
        rule.push("drop");
        self.in_ns(&rule);
    }

    /// Routes a second /30 through the namespace, which answers for it with ICMP destination
    /// unreachable (an `unreachable` route, forwarding on, no ICMP rate limit). Returns an
    /// address in it.
    pub fn answer_unreachable(&self) -> Ipv4Addr {
        let cidr = format!("{}/30", self.spare_block);
        // /proc/sys/net belongs to the namespace of the process that opens it.
        self.in_ns(&["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
        self.in_ns(&["sh", "-c", "echo 0 > /proc/sys/net/ipv4/icmp_ratelimit"]);
        self.in_ns(&["ip", "route", "add", "unreachable", &cidr]);
        let via = self.ns_ip.to_string();
        run(
            "ip",
            &["route", "add", &cidr, "via", &via, "dev", &self.host_dev],
        );
        offset(self.spare_block, 1)
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth pair, and with it the root end
        // and its routes. The explicit delete covers a namespace that was never created.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_dev])
            .output();
    }
}
