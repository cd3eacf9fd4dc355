//! The batched ICMP prober: one task owns the schedules of every ICMP target, sends each due
//! echo request in one burst, and finishes each poll as its answers (from the sockets' receive
//! tasks, through one channel) or timeouts come in.
//!
//! At 10,000 targets a second, one task per target spent most of its CPU waking worker threads
//! and running the generic poll machinery (two semaphores, a span, three timers per poll). Here
//! a poll is a few map entries and timeline events: one timer (the earliest event) for the whole
//! prober, one channel message per reply, and every request leaves from this single task, so
//! two worker threads never contend for the socket between the send timestamp and `sendto`.
//! A host name is looked up at every poll by a spawned task that reports back through a channel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::classify::Verdict;
use super::exchange::{BatchAnswer, BatchReplyTo, BatchSend, Echo, PendingKey, SentAt};
use super::probe::{probe_result, resolve_for_batch, IcmpJob, RTT_LOG};
use super::sockets::{IcmpSockets, SharedSocket, SocketKey};
use super::stats::IcmpStats;
use super::timeline::Timeline;
use super::IpVersion;
use crate::metrics::PollerMetrics;
use crate::poller::outcome::{FailureReason, PollOutcome, PollRecord, Protocol};
use crate::poller::results::ResultSlot;
use crate::poller::scheduler::{log_transition, next_slot};

/// The prober wakes at most once per tick and sends everything due in it as one burst. Four
/// milliseconds cut the wake-ups (of the prober, the receive task and the worker threads) to a
/// quarter of tokio's 1 ms timer resolution; start times are planned on tick boundaries, so the
/// schedule lag does not grow, and a reply timeout fires at most one tick late.
const TICK: Duration = Duration::from_millis(4);

/// How long to wait before retrying a request the socket had no room for.
const SEND_RETRY: Duration = Duration::from_millis(1);

/// Answers taken from the inbox per wake-up.
const INBOX_BATCH: usize = 1024;

/// One ICMP target to schedule: its job and its slot in the results store. `id` is the
/// target's registration generation, unique per process.
pub struct BatchTarget {
    pub id: u64,
    pub job: IcmpJob,
    pub slot: ResultSlot,
}

/// A host name looked up for poll `poll` of target `id` (by a task of its own: the prober
/// never waits).
struct Resolved {
    id: u64,
    poll: u64,
    result: Result<IpAddr, FailureReason>,
}

enum Command {
    Add(Box<BatchTarget>),
    Remove(u64),
}

/// The handle the scheduler keeps: adds and removes targets; the task stops on cancellation.
pub struct IcmpBatch {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl IcmpBatch {
    /// Starts the prober's task (needs the runtime).
    pub fn start(
        sockets: &'static IcmpSockets,
        metrics: Arc<PollerMetrics>,
        cancel: CancellationToken,
    ) -> Self {
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (inbox, inbox_receiver) = mpsc::unbounded_channel();
        let (resolved, resolved_receiver) = mpsc::unbounded_channel();
        let prober = Prober {
            sockets,
            metrics,
            inbox,
            resolved,
            targets: HashMap::new(),
            events: Timeline::new(Instant::now(), TICK),
            due: Vec::new(),
            in_flight: HashMap::new(),
            next_token: 0,
        };
        let receivers = Receivers {
            commands: command_receiver,
            inbox: inbox_receiver,
            resolved: resolved_receiver,
        };
        let task = tokio::spawn(prober.run(receivers, cancel));
        IcmpBatch { commands, task }
    }

    /// Schedules a target, from a random offset within its interval.
    pub fn add(&self, target: BatchTarget) {
        // A send fails only once the task has stopped (shutdown): nothing is scheduled then.
        let _ = self.commands.send(Command::Add(Box::new(target)));
    }

    /// Stops a target; a poll in flight is abandoned and records nothing.
    pub fn remove(&self, id: u64) {
        let _ = self.commands.send(Command::Remove(id));
    }

    /// Waits for the task to end (after cancellation).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Something the prober must do at a given time.
#[derive(Debug, Clone, Copy)]
enum Event {
    /// Start the target's next poll.
    Start { id: u64 },
    /// Send this echo request.
    Send(EchoRef),
    /// The request `token` waited long enough.
    Timeout { token: u64 },
}

/// Echo request `echo` of poll `poll` of target `id`.
#[derive(Debug, Clone, Copy)]
struct EchoRef {
    id: u64,
    poll: u64,
    echo: u32,
}

/// One target under the prober's care.
struct Scheduled {
    target: BatchTarget,
    /// The host as an IP address, parsed once; `None` for a name, looked up every poll.
    fixed_address: Option<IpAddr>,
    payload: Arc<[u8]>,
    stats: IcmpStats,
    /// The socket of the last poll (sockets are never closed).
    socket: Option<(SocketKey, Arc<SharedSocket>)>,
    planned: Instant,
    polls: u64,
    last_result: Option<Result<(), FailureReason>>,
    poll: Option<Poll>,
}

/// A poll in flight.
struct Poll {
    number: u64,
    started: Instant,
    deadline: Instant,
    /// Where the requests go; `None` while a host name is being looked up.
    address: Option<IpAddr>,
    socket: Option<Arc<SharedSocket>>,
    /// `None` until the request is answered, lost, or given up.
    echoes: Vec<Option<Echo>>,
    open: usize,
}

/// A request on the wire, by token.
struct InFlight {
    request: EchoRef,
    socket: Arc<SharedSocket>,
    key: PendingKey,
    sent: SentAt,
    /// How long `sendto` took (on loopback it includes the kernel answering the request).
    send_took: Duration,
}

/// What wakes the prober besides its timer.
struct Receivers {
    commands: mpsc::UnboundedReceiver<Command>,
    inbox: mpsc::UnboundedReceiver<BatchAnswer>,
    resolved: mpsc::UnboundedReceiver<Resolved>,
}

struct Prober {
    sockets: &'static IcmpSockets,
    metrics: Arc<PollerMetrics>,
    inbox: mpsc::UnboundedSender<BatchAnswer>,
    resolved: mpsc::UnboundedSender<Resolved>,
    targets: HashMap<u64, Scheduled>,
    events: Timeline<Event>,
    /// The events of one wake-up (kept to reuse its allocation).
    due: Vec<Event>,
    in_flight: HashMap<u64, InFlight>,
    next_token: u64,
}

impl Prober {
    async fn run(mut self, mut receivers: Receivers, cancel: CancellationToken) {
        let mut answers = Vec::with_capacity(INBOX_BATCH);
        let far = || Instant::now() + Duration::from_secs(86_400);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            // The one timer is moved only when the earliest event changed.
            let next = self.events.next();
            if next != armed {
                sleep.as_mut().reset(next.unwrap_or_else(far));
                armed = next;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                command = receivers.commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                _ = receivers.inbox.recv_many(&mut answers, INBOX_BATCH) => {
                    for answer in answers.drain(..) {
                        self.answer(answer);
                    }
                }
                Some(resolved) = receivers.resolved.recv() => self.resolved(resolved),
                _ = &mut sleep, if armed.is_some() => {}
            }
            self.run_due(Instant::now());
        }
        self.stop();
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Add(target) => self.add(*target),
            Command::Remove(id) => {
                if let Some(scheduled) = self.targets.remove(&id) {
                    if scheduled.poll.is_some() {
                        self.metrics.active_delta(Protocol::Icmp, -1);
                    }
                }
            }
        }
    }

    fn add(&mut self, target: BatchTarget) {
        let interval = target.job.target.interval;
        // A random offset spreads thousands of targets over the interval instead of pinging
        // them all at once after a start or reload.
        // On a tick boundary, like every later start when the interval is a whole number of
        // ticks: the start is due the moment the prober wakes, not rounded to the next tick.
        let ticks = (interval.as_nanos() / self.events.tick().as_nanos()).max(1) as u32;
        let offset = self.events.tick() * rand::rng().random_range(0..ticks);
        let planned = self.events.boundary_at_or_after(Instant::now()) + offset;
        let id = target.id;
        // A recognisable, non-zero pattern, as ping uses: all-zero payloads get compressed by
        // some links and would measure them, not the path.
        let payload = (0..target.job.module.payload_size)
            .map(|i| i as u8)
            .collect();
        let scheduled = Scheduled {
            fixed_address: target.job.literal_address(),
            target,
            payload,
            stats: IcmpStats::default(),
            socket: None,
            planned,
            polls: 0,
            last_result: None,
            poll: None,
        };
        self.targets.insert(id, scheduled);
        self.events.push(planned, Event::Start { id });
    }

    /// Everything due by `now`, in time order: one burst of sends per wake-up.
    fn run_due(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.events.take_due(now, &mut due);
        for event in due.drain(..) {
            match event {
                Event::Start { id } => self.start(id),
                Event::Send(request) => self.send(request),
                Event::Timeout { token } => self.timeout(token),
            }
        }
        self.due = due;
    }

    fn start(&mut self, id: u64) {
        let Some(scheduled) = self.targets.get_mut(&id) else {
            return;
        };
        let now = Instant::now();
        let lag = now.saturating_duration_since(scheduled.planned);
        self.metrics.poll_started_late(Protocol::Icmp, lag);
        self.metrics.active_delta(Protocol::Icmp, 1);
        let count = scheduled.target.job.module.count as usize;
        scheduled.polls += 1;
        let poll = scheduled.polls;
        let deadline = now + scheduled.target.job.target.timeout;
        scheduled.poll = Some(Poll {
            number: poll,
            started: now,
            deadline,
            address: None,
            socket: None,
            echoes: vec![None; count],
            open: count,
        });
        match scheduled.fixed_address {
            Some(address) => self.begin(id, poll, address),
            None => {
                let job = scheduled.target.job.clone();
                let resolved = self.resolved.clone();
                tokio::spawn(async move {
                    let result = resolve_for_batch(&job, deadline).await;
                    let _ = resolved.send(Resolved { id, poll, result });
                });
            }
        }
    }

    /// A host name was looked up: the poll goes on, or fails with the lookup's reason.
    fn resolved(&mut self, Resolved { id, poll, result }: Resolved) {
        match result {
            Ok(address) => self.begin(id, poll, address),
            Err(reason) => self.fail(id, poll, reason),
        }
    }

    /// Sends the poll's first request now and plans the others `interval` apart.
    fn begin(&mut self, id: u64, poll: u64, address: IpAddr) {
        let Some(scheduled) = self.targets.get_mut(&id) else {
            return;
        };
        let socket = match scheduled.socket(self.sockets, address) {
            Ok(socket) => socket,
            Err(reason) => return self.fail(id, poll, reason),
        };
        let Some(current) = scheduled.poll.as_mut().filter(|p| p.number == poll) else {
            return;
        };
        current.address = Some(address);
        current.socket = Some(socket);
        let now = Instant::now();
        let spacing = scheduled.target.job.module.interval;
        for echo in 1..current.echoes.len() as u32 {
            let send = Event::Send(EchoRef { id, poll, echo });
            self.events.push(now + spacing * echo, send);
        }
        self.send(EchoRef { id, poll, echo: 0 });
    }

    /// Ends poll `poll` before any request went out.
    fn fail(&mut self, id: u64, poll: u64, reason: FailureReason) {
        let Some(scheduled) = self.targets.get(&id) else {
            return;
        };
        let Some(current) = scheduled.poll.as_ref().filter(|p| p.number == poll) else {
            return;
        };
        let finished = Finished {
            started: current.started,
            result: Err(reason),
        };
        self.finish(id, finished);
    }

    /// Sends one request of a poll, or gives it up when the poll's deadline leaves no time.
    fn send(&mut self, request: EchoRef) {
        let Some(scheduled) = self.targets.get(&request.id) else {
            return;
        };
        let Some(current) = scheduled.poll.as_ref().filter(|p| p.number == request.poll) else {
            return;
        };
        let now = Instant::now();
        let timeout = scheduled
            .target
            .job
            .module
            .timeout
            .min(current.deadline.saturating_duration_since(now));
        if timeout.is_zero() {
            return self.resolve(request, Echo::NotSent);
        }
        let (Some(socket), Some(address)) = (current.socket.clone(), current.address) else {
            return;
        };
        let token = self.next_token;
        let reply_to = BatchReplyTo {
            inbox: &self.inbox,
            token,
        };
        match socket.send_for_batch(address, &scheduled.payload, reply_to) {
            BatchSend::Sent { key, at } => {
                let send_took = at.monotonic().elapsed();
                self.next_token += 1;
                let in_flight = InFlight {
                    request,
                    socket,
                    key,
                    sent: at,
                    send_took,
                };
                self.in_flight.insert(token, in_flight);
                self.events.push(now + timeout, Event::Timeout { token });
            }
            BatchSend::WouldBlock => {
                let retry = Event::Send(request);
                self.events.push(now + SEND_RETRY, retry);
            }
            BatchSend::Failed => self.resolve(request, Echo::SendFailed),
            BatchSend::SequenceInUse => self.resolve(request, Echo::NotSent),
        }
    }

    /// A request's time is up: unless its answer came first, it is lost.
    fn timeout(&mut self, token: u64) {
        if let Some(in_flight) = self.in_flight.remove(&token) {
            in_flight.socket.forget(in_flight.key);
            self.resolve(in_flight.request, Echo::Lost);
        }
    }

    /// An answer from a receive task.
    fn answer(&mut self, BatchAnswer { token, answer }: BatchAnswer) {
        let Some(in_flight) = self.in_flight.remove(&token) else {
            return;
        };
        let echo = match answer.verdict {
            Verdict::EchoReply => Echo::Reply(in_flight.sent.rtt(&answer)),
            Verdict::NotOurs => Echo::Lost,
            error => Echo::IcmpError(error),
        };
        if let Some(scheduled) = self.targets.get(&in_flight.request.id) {
            scheduled.trace_reply(echo, in_flight.send_took);
        }
        self.resolve(in_flight.request, echo);
    }

    /// Records what became of one request; the poll ends with its last request.
    fn resolve(&mut self, request: EchoRef, outcome: Echo) {
        let Some(scheduled) = self.targets.get_mut(&request.id) else {
            return;
        };
        let Some(current) = scheduled.poll.as_mut().filter(|p| p.number == request.poll) else {
            return;
        };
        let slot = &mut current.echoes[request.echo as usize];
        if slot.is_some() {
            return;
        }
        *slot = Some(outcome);
        current.open -= 1;
        let version = current.address.map(IpVersion::of);
        let finished = (current.open == 0).then(|| {
            let echoes: Vec<Echo> = current.echoes.iter().flatten().copied().collect();
            Finished {
                started: current.started,
                result: probe_result(&echoes),
            }
        });
        if let Some(version) = version {
            scheduled.count(version, outcome);
        }
        if let Some(finished) = finished {
            self.finish(request.id, finished);
        }
    }

    /// Ends a poll: metrics, the state-transition log, the record, and the next planned start.
    fn finish(&mut self, id: u64, finished: Finished) {
        let Some(scheduled) = self.targets.get_mut(&id) else {
            return;
        };
        scheduled.poll = None;
        let now = Instant::now();
        let took = now.saturating_duration_since(finished.started);
        self.metrics.active_delta(Protocol::Icmp, -1);
        self.metrics
            .poll_finished(Protocol::Icmp, finished.result, took);
        let name = &scheduled.target.job.target.name;
        log_transition(name, Protocol::Icmp, scheduled.last_result, finished.result);
        scheduled.last_result = Some(finished.result);
        let lag = finished
            .started
            .saturating_duration_since(scheduled.planned);
        scheduled.record(finished.result, took, lag);
        let interval = scheduled.target.job.target.interval;
        let (planned, skipped) = next_slot(scheduled.planned, interval, now);
        if skipped > 0 {
            self.metrics.polls_skipped(Protocol::Icmp, skipped);
        }
        scheduled.planned = planned;
        self.events.push(planned, Event::Start { id });
    }

    /// Shutdown: nothing waits for the requests still on the wire.
    fn stop(&mut self) {
        for (_, request) in self.in_flight.drain() {
            request.socket.forget(request.key);
        }
        let polling = self.targets.values().filter(|s| s.poll.is_some()).count();
        self.metrics.active_delta(Protocol::Icmp, -(polling as i64));
    }
}

/// How a poll ended.
struct Finished {
    started: Instant,
    result: Result<(), FailureReason>,
}

impl Scheduled {
    /// The socket for this target's address, opened on first use; `unreachable` when none can
    /// be opened (retried on the next poll).
    fn socket(
        &mut self,
        sockets: &IcmpSockets,
        address: IpAddr,
    ) -> Result<Arc<SharedSocket>, FailureReason> {
        let key = SocketKey {
            version: IpVersion::of(address),
            source: self.target.job.module.source_address,
        };
        if let Some((cached, socket)) = &self.socket {
            if *cached == key {
                return Ok(socket.clone());
            }
        }
        let socket = sockets.get(key).map_err(|error| {
            let name = &self.target.job.target.name;
            tracing::debug!(target_name = %name, "ICMP probe failed: {error}");
            FailureReason::Unreachable
        })?;
        self.socket = Some((key, socket.clone()));
        Ok(socket)
    }

    /// Counts one request's fate in the target's lifetime counters.
    fn count(&mut self, version: IpVersion, echo: Echo) {
        if echo != Echo::NotSent {
            self.stats.request_sent(version);
        }
        if let Echo::Reply(rtt) = echo {
            self.stats.reply_received(version, rtt);
        }
    }

    /// Every RTT, for comparing with another pinger (scripts/bench/icmp.sh turns this log
    /// target on), with the time `sendto` took; off, it costs one level check.
    fn trace_reply(&self, echo: Echo, send_took: Duration) {
        if let Echo::Reply(rtt) = echo {
            let (rtt_ns, send_ns) = (rtt.as_nanos() as u64, send_took.as_nanos() as u64);
            tracing::trace!(target: RTT_LOG, address = %self.target.job.target.host, rtt_ns, send_ns, "ICMP reply");
        }
    }

    /// Stores the poll. The counters go out whatever the result: this poll updated them, so
    /// they are fresh, and requests growing without replies is how loss shows.
    fn record(&mut self, result: Result<(), FailureReason>, took: Duration, lag: Duration) {
        let finished_at = SystemTime::now();
        let last_success = match result {
            Ok(()) => Some(finished_at),
            Err(_) => self.target.slot.last_success(),
        };
        let record = PollRecord {
            outcome: PollOutcome {
                result,
                families: self.stats.families(),
            },
            finished_at,
            duration: took,
            last_success,
            schedule_lag: Some(lag),
        };
        // ICMP's label sets are process-wide constants, already shared.
        self.target.slot.record_shared(record);
    }
}
