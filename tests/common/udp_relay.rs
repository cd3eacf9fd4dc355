//! A UDP relay between the poller and a real agent that delays, duplicates and reorders
//! datagrams, because this project's kernels have no `tc netem` (see tests/faults_network.rs).
//! Each client socket gets its own upstream socket, so answers always go back to the socket
//! that asked, as they would through a router.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the relay does to every datagram, in both directions. Changeable while it runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Added to every datagram's travel time.
    pub delay: Duration,
    /// A random extra delay between zero and this.
    pub jitter: Duration,
    /// Send each datagram twice; the copy `duplicate_gap` after the original.
    pub duplicate: bool,
    pub duplicate_gap: Duration,
    /// Swap consecutive datagrams of a direction: each odd one waits up to this long for the
    /// next one, which then overtakes it. Zero: no reordering.
    pub reorder_hold: Duration,
    /// Answer every request with the agent's previous answer (to another request, so with
    /// another request id), as a confused agent or a replaying middlebox would. The first
    /// answer is only kept.
    pub replay_stale: bool,
}

/// How many faults the relay injected, so a test can show they happened.
#[derive(Debug, Default)]
pub struct RelayCounts {
    pub forwarded: AtomicU64,
    pub duplicated: AtomicU64,
    pub swapped: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    ToAgent,
    ToClient,
}

/// One datagram waiting for its departure time.
struct Departure {
    direction: Direction,
    client: SocketAddr,
    bytes: Vec<u8>,
}

/// A datagram held back so the next one of its direction can overtake it.
struct Held {
    departure: Departure,
    /// When it leaves anyway if nothing overtakes it.
    until: Instant,
}

#[derive(Default)]
struct Queue {
    /// By departure time, then arrival order.
    due: BTreeMap<(Instant, u64), Departure>,
    held: HashMap<Direction, Held>,
    sequence: u64,
    /// The agent's last answer, for `replay_stale`.
    last_answer: Option<Vec<u8>>,
}

struct Shared {
    faults: Mutex<Faults>,
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
    counts: RelayCounts,
    front: UdpSocket,
    agent: SocketAddr,
    /// Per client address, the socket that talks to the agent on its behalf.
    upstreams: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
}

/// A running relay listening on `addr`. Stopped (threads joined) on drop.
pub struct UdpRelay {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(20);
/// How long an upstream socket lives without answers from the agent.
const IDLE: Duration = Duration::from_secs(3);

impl UdpRelay {
    /// Relays datagrams sent to the returned relay's `addr` to `agent` (and back).
    pub fn start(agent: SocketAddr, faults: Faults) -> UdpRelay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind the relay");
        front.set_read_timeout(Some(POLL)).expect("read timeout");
        let addr = front.local_addr().expect("relay address");
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults),
            queue: Mutex::default(),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            counts: RelayCounts::default(),
            front,
            agent,
            upstreams: Mutex::default(),
        });
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(std::thread::spawn(move || read_clients(&s)));
        let s = shared.clone();
        threads.push(std::thread::spawn(move || send_due(&s)));
        UdpRelay {
            addr,
            shared,
            threads,
        }
    }

    /// Changes the faults for the datagrams that arrive from now on.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    pub fn counts(&self) -> &RelayCounts {
        &self.shared.counts
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Datagrams from the poller: opens an upstream socket (and its reader) per client.
fn read_clients(shared: &Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok((len, client)) = shared.front.recv_from(&mut buf) else {
            continue;
        };
        upstream_for(shared, client);
        accept(shared, Direction::ToAgent, client, buf[..len].to_vec());
    }
}

fn upstream_for(shared: &Arc<Shared>, client: SocketAddr) -> Arc<UdpSocket> {
    let mut upstreams = lock(&shared.upstreams);
    if let Some(socket) = upstreams.get(&client) {
        return socket.clone();
    }
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind an upstream socket");
    socket.connect(shared.agent).expect("connect upstream");
    socket.set_read_timeout(Some(POLL)).expect("read timeout");
    let socket = Arc::new(socket);
    upstreams.insert(client, socket.clone());
    let (s, reader) = (shared.clone(), socket.clone());
    // Detached: it ends with the relay's stop flag (or when the agent's port is closed).
    std::thread::spawn(move || read_agent(&s, &reader, client));
    socket
}

/// Answers from the agent for one client. Ends after `IDLE` without traffic (the poller drops
/// a socket after every failure, so abandoned clients pile up), or when the relay stops.
fn read_agent(shared: &Shared, socket: &UdpSocket, client: SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let mut last_seen = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        match socket.recv(&mut buf) {
            Ok(len) => {
                last_seen = Instant::now();
                accept(shared, Direction::ToClient, client, buf[..len].to_vec());
            }
            // The agent was killed: keep listening, it may come back on the same port.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(POLL);
            }
            Err(_) => {}
        }
        if last_seen.elapsed() > IDLE {
            let mut upstreams = lock(&shared.upstreams);
            if upstreams
                .get(&client)
                .is_some_and(|s| std::ptr::eq(&**s, socket))
            {
                upstreams.remove(&client);
            }
            return;
        }
    }
}

/// Plans a datagram's departure (and its copy's) under the current faults.
fn accept(shared: &Shared, direction: Direction, client: SocketAddr, bytes: Vec<u8>) {
    let faults = *lock(&shared.faults);
    let now = Instant::now();
    let travel = faults.delay + random_up_to(faults.jitter);
    let mut queue = lock(&shared.queue);
    let bytes = if faults.replay_stale && direction == Direction::ToClient {
        match queue.last_answer.replace(bytes) {
            Some(previous) => previous,
            None => return,
        }
    } else {
        bytes
    };
    if faults.duplicate {
        shared.counts.duplicated.fetch_add(1, Ordering::Relaxed);
        let copy = Departure {
            direction,
            client,
            bytes: bytes.clone(),
        };
        schedule(&mut queue, now + travel + faults.duplicate_gap, copy);
    }
    let departure = Departure {
        direction,
        client,
        bytes,
    };
    if faults.reorder_hold.is_zero() {
        schedule(&mut queue, now + travel, departure);
    } else if let Some(held) = queue.held.remove(&direction) {
        // This one overtakes the held one: it leaves first, the held one right after.
        shared.counts.swapped.fetch_add(1, Ordering::Relaxed);
        schedule(&mut queue, now + travel, departure);
        schedule(
            &mut queue,
            now + travel + Duration::from_micros(200),
            held.departure,
        );
    } else {
        let until = now + travel + faults.reorder_hold;
        queue.held.insert(direction, Held { departure, until });
    }
    drop(queue);
    shared.wake.notify_all();
}

fn schedule(queue: &mut Queue, at: Instant, departure: Departure) {
    queue.sequence += 1;
    let key = (at, queue.sequence);
    queue.due.insert(key, departure);
}

/// Sends every datagram when it is due; releases held ones nobody overtook.
fn send_due(shared: &Shared) {
    let mut queue = lock(&shared.queue);
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let expired: Vec<Direction> = queue
            .held
            .iter()
            .filter(|(_, held)| held.until <= now)
            .map(|(direction, _)| *direction)
            .collect();
        for direction in expired {
            if let Some(held) = queue.held.remove(&direction) {
                schedule(&mut queue, now, held.departure);
            }
        }
        let ready: Vec<(Instant, u64)> = queue
            .due
            .range(..=(now, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in ready {
            if let Some(departure) = queue.due.remove(&key) {
                deliver(shared, &departure);
            }
        }
        let next_due = queue.due.keys().next().map(|(at, _)| *at);
        let next_held = queue.held.values().map(|h| h.until).min();
        let wait = [next_due, next_held]
            .into_iter()
            .flatten()
            .min()
            .map_or(POLL, |at| {
                at.saturating_duration_since(Instant::now()).min(POLL)
            });
        queue = shared
            .wake
            .wait_timeout(queue, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn deliver(shared: &Shared, departure: &Departure) {
    shared.counts.forwarded.fetch_add(1, Ordering::Relaxed);
    match departure.direction {
        Direction::ToClient => {
            let _ = shared.front.send_to(&departure.bytes, departure.client);
        }
        Direction::ToAgent => {
            let upstream = lock(&shared.upstreams).get(&departure.client).cloned();
            if let Some(socket) = upstream {
                let _ = socket.send(&departure.bytes);
            }
        }
    }
}

fn random_up_to(limit: Duration) -> Duration {
    if limit.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::random::<u64>() % nanos)
}
