//! One shared ICMP socket at work: sends echo requests, and one receive task per socket hands
//! each reply (or ICMP error) to the request waiting for it, found by (address, sequence).
//!
//! RTTs are measured as fping does: the send time is read just before `sendto`, the receive
//! time is the kernel's own timestamp of the reply (`SO_TIMESTAMPNS`), so neither the receive
//! task's wake-up latency nor a busy runtime adds to the RTT. Both are CLOCK_REALTIME, the
//! clock the kernel stamps with; a wall-clock step between the two falls back to the monotonic
//! clock read in user space.

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use socket2::{SockAddr, Socket};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::classify::{classify, Expected, Verdict};
use super::packet::{echo_request, parse, EchoHeader, Parsed};
use super::sockets::SocketMode;
use super::IpVersion;

/// Large enough for the biggest payload the config allows plus headers.
const RECEIVE_BUFFER: usize = 65_536 + 128;

thread_local! {
    /// Where echo requests are built before `sendto`, one per worker thread.
    static SEND_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What became of one echo request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Echo {
    /// Its Echo Reply came back after this long.
    Reply(Duration),
    /// An ICMP error about it came back instead (RAW sockets only).
    IcmpError(Verdict),
    /// Nothing came back in time.
    Lost,
    /// The kernel refused to send it (no route, network unreachable...).
    SendFailed,
    /// Not sent at all: no time was left before the deadline, or its sequence was in use.
    NotSent,
}

/// What the receive task hands to a waiting request.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub verdict: Verdict,
    /// The kernel's receive timestamp, when the socket gave one.
    kernel_time: Option<SystemTime>,
    /// When the receive task read it (the fallback clock).
    read_at: Instant,
}

/// Which request an answer is for. The address tells apart targets that share a socket; the
/// sequence, drawn from one counter per socket, tells apart requests to one address.
pub type PendingKey = (IpAddr, u16);

/// Who waits for an answer: one request's own future, or the batched prober, which gets every
/// answer of its requests through one channel, tagged with the request's token.
enum Waiter {
    Request(oneshot::Sender<Answer>),
    Batch {
        inbox: mpsc::UnboundedSender<BatchAnswer>,
        token: u64,
    },
}

impl Waiter {
    /// Hands the answer over; false when nobody takes it any more.
    fn answer(self, answer: Answer) -> bool {
        match self {
            Waiter::Request(sender) => sender.send(answer).is_ok(),
            Waiter::Batch { inbox, token } => inbox.send(BatchAnswer { token, answer }).is_ok(),
        }
    }
}

/// An answer for the batched prober's request `token`.
#[derive(Debug, Clone, Copy)]
pub struct BatchAnswer {
    pub token: u64,
    pub answer: Answer,
}

/// Where the answer to a batched request goes: the prober's inbox, tagged with `token`.
#[derive(Debug, Clone, Copy)]
pub struct BatchReplyTo<'a> {
    pub inbox: &'a mpsc::UnboundedSender<BatchAnswer>,
    pub token: u64,
}

/// What became of a request the batched prober tried to send.
#[derive(Debug)]
pub enum BatchSend {
    /// On its way; the answer will come through the inbox unless `forget` is called first.
    Sent { key: PendingKey, at: SentAt },
    /// The socket's send buffer is full: try again a little later.
    WouldBlock,
    /// The kernel refused it (counted in the socket's send errors).
    Failed,
    /// Its (address, sequence) is still waiting for an earlier answer.
    SequenceInUse,
}

/// One open ICMP socket and the requests waiting on it.
pub struct SharedSocket {
    pub mode: SocketMode,
    version: IpVersion,
    /// RAW: the identifier of every request sent here, checked on replies (and by the socket's
    /// filter). DGRAM: unused; the kernel sets its own and delivers only our replies.
    identifier: u16,
    io: AsyncFd<Socket>,
    next_sequence: AtomicU16,
    pending: Mutex<HashMap<PendingKey, Waiter>>,
    /// Replies and errors that matched no waiting request (late after a timeout, or another
    /// process's on a RAW socket that got past the filter).
    unmatched: AtomicU64,
    /// Requests the kernel refused to send. Process-wide rather than per target: a per-target
    /// series would cost every probe of every target a sample, and the target's own loss
    /// already shows which targets suffer.
    send_errors: AtomicU64,
}

impl SharedSocket {
    /// Wraps an opened, non-blocking socket and starts its receive task (needs the runtime).
    pub fn start(
        socket: Socket,
        mode: SocketMode,
        version: IpVersion,
        identifier: u16,
    ) -> io::Result<Arc<Self>> {
        // SAFETY: the Socket owns its fd, which stays open and the same for as long as the
        // AsyncFd holds the Socket.
        let io = unsafe { AsyncFd::register(socket) }?;
        let shared = Arc::new(SharedSocket {
            mode,
            version,
            identifier,
            io,
            // A random start keeps two ispmonitor processes with RAW sockets (which see each
            // other's replies) from walking the same sequences.
            next_sequence: AtomicU16::new(rand::random()),
            pending: Mutex::new(HashMap::new()),
            unmatched: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
        });
        tokio::spawn(receive_loop(shared.clone()));
        Ok(shared)
    }

    pub fn next_sequence(&self) -> u16 {
        self.next_sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// The address the socket is bound to.
    pub fn local_address(&self) -> io::Result<SocketAddr> {
        self.io
            .get_ref()
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// The identifier this socket's requests carry (RAW; DGRAM sockets get the kernel's).
    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    /// Requests the kernel refused to send, since the socket was opened.
    pub fn send_errors(&self) -> u64 {
        self.send_errors.load(Ordering::Relaxed)
    }

    /// Answers that found no waiting request, since the socket was opened.
    pub fn unmatched(&self) -> u64 {
        self.unmatched.load(Ordering::Relaxed)
    }

    /// Sends one echo request to `address` and waits up to `timeout` for its answer.
    pub async fn echo(&self, address: IpAddr, payload: &[u8], timeout: Duration) -> Echo {
        let sequence = self.next_sequence();
        let Some(mut waiting) = self.wait_for(address, sequence) else {
            return Echo::NotSent;
        };
        let sent = match self.send(address, sequence, payload).await {
            Ok(sent) => sent,
            Err(error) => {
                self.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%address, "ICMP echo request not sent: {error}");
                return Echo::SendFailed;
            }
        };
        let answer = match tokio::time::timeout(timeout, &mut waiting.receiver).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => return Echo::Lost,
        };
        match answer.verdict {
            Verdict::EchoReply => Echo::Reply(sent.rtt(&answer)),
            Verdict::NotOurs => Echo::Lost,
            error => Echo::IcmpError(error),
        }
    }

    /// Registers a request before it is sent (a fast reply must find it). `None` when the same
    /// (address, sequence) is still waiting: 65,536 requests to one address within a timeout.
    fn wait_for(&self, address: IpAddr, sequence: u16) -> Option<Waiting<'_>> {
        let (sender, receiver) = oneshot::channel();
        let key = (address, sequence);
        self.register(key, Waiter::Request(sender))?;
        Some(Waiting {
            socket: self,
            key,
            receiver,
        })
    }

    /// Files a waiter under its key; `None` when that key is still waiting.
    fn register(&self, key: PendingKey, waiter: Waiter) -> Option<()> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.contains_key(&key) {
            return None;
        }
        pending.insert(key, waiter);
        Some(())
    }

    /// Builds the request in this thread's buffer (no allocation per packet) and sends it at
    /// once; the send time is read just before `sendto`.
    fn send_now(
        &self,
        destination: &SockAddr,
        sequence: u16,
        payload: &[u8],
    ) -> io::Result<SentAt> {
        SEND_BUFFER.with_borrow_mut(|packet| {
            let header = EchoHeader {
                version: self.version,
                identifier: self.identifier,
                sequence,
            };
            echo_request(header, payload, packet);
            let sent = SentAt::now();
            self.io.get_ref().send_to(packet, destination).map(|_| sent)
        })
    }

    /// Builds and sends the request; returns when it left (for the RTT).
    async fn send(&self, address: IpAddr, sequence: u16, payload: &[u8]) -> io::Result<SentAt> {
        let destination = SockAddr::from(SocketAddr::new(address, 0));
        loop {
            let mut ready = self.io.writable().await?;
            // Nothing is held across the await above.
            let result = ready.try_io(|_| self.send_now(&destination, sequence, payload));
            match result {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one echo request for the batched prober, without waiting: registered first (a
    /// fast reply must find it), built in this thread's buffer, the send time read just before
    /// `sendto`. A non-blocking socket needs no readiness wait to be tried.
    pub fn send_for_batch(
        &self,
        address: IpAddr,
        payload: &[u8],
        reply_to: BatchReplyTo<'_>,
    ) -> BatchSend {
        let key = (address, self.next_sequence());
        let waiter = Waiter::Batch {
            inbox: reply_to.inbox.clone(),
            token: reply_to.token,
        };
        if self.register(key, waiter).is_none() {
            return BatchSend::SequenceInUse;
        }
        let destination = SockAddr::from(SocketAddr::new(address, 0));
        let result = self.send_now(&destination, key.1, payload);
        match result {
            Ok(at) => BatchSend::Sent { key, at },
            Err(error) => {
                self.forget(key);
                if error.kind() == io::ErrorKind::WouldBlock {
                    return BatchSend::WouldBlock;
                }
                self.send_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%address, "ICMP echo request not sent: {error}");
                BatchSend::Failed
            }
        }
    }

    /// Stops waiting for a request's answer (it timed out, or its target is gone).
    pub fn forget(&self, key: PendingKey) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(&key);
    }

    /// Hands a received message to the request it answers.
    pub(super) fn deliver(&self, parsed: Parsed, kernel_time: Option<SystemTime>) {
        let expected_identifier = (self.mode == SocketMode::Raw).then_some(self.identifier);
        let key = (parsed.about, parsed.received.sequence);
        let verdict = classify(
            Expected {
                identifier: expected_identifier,
                sequence: parsed.received.sequence,
            },
            parsed.received,
        );
        let waiting = if verdict == Verdict::NotOurs {
            None
        } else {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.remove(&key)
        };
        let answer = Answer {
            verdict,
            kernel_time,
            read_at: Instant::now(),
        };
        // A closed receiver timed out at the same moment: as late as no waiter at all.
        if waiting.is_none_or(|waiter| !waiter.answer(answer)) {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A registered request; dropping it (timeout, cancelled poll) frees its key.
struct Waiting<'a> {
    socket: &'a SharedSocket,
    key: PendingKey,
    receiver: oneshot::Receiver<Answer>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.socket.forget(self.key);
    }
}

/// When a request left, on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct SentAt {
    wall: SystemTime,
    monotonic: Instant,
}

impl SentAt {
    fn now() -> Self {
        SentAt {
            monotonic: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    /// The monotonic time read just before `sendto`.
    pub fn monotonic(&self) -> Instant {
        self.monotonic
    }

    /// Kernel receive time minus send time; the monotonic clocks when the kernel gave no
    /// timestamp or the wall clock stepped (the difference would be negative or far off).
    pub fn rtt(&self, answer: &Answer) -> Duration {
        let fallback = answer.read_at.saturating_duration_since(self.monotonic);
        answer
            .kernel_time
            .and_then(|received| received.duration_since(self.wall).ok())
            .filter(|rtt| *rtt <= fallback)
            .unwrap_or(fallback)
    }
}

/// Reads every datagram as it arrives and delivers it; runs as long as the socket.
async fn receive_loop(socket: Arc<SharedSocket>) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let with_ip_header = socket.mode == SocketMode::Raw && socket.version == IpVersion::V4;
    loop {
        let mut ready = match socket.io.readable().await {
            Ok(ready) => ready,
            Err(error) => {
                tracing::error!("ICMP receive task stopped: {error}");
                return;
            }
        };
        // Drain everything queued before waiting again: one wake-up for a burst of replies.
        loop {
            match ready.try_io(|fd| receive(fd.get_ref(), &mut buffer)) {
                Ok(Ok(datagram)) => {
                    let bytes = &buffer[..datagram.len];
                    if let Some(parsed) =
                        parse(socket.version, with_ip_header, datagram.from, bytes)
                    {
                        socket.deliver(parsed, datagram.kernel_time);
                    }
                }
                Ok(Err(error)) => {
                    // Transient (e.g. ENOBUFS); the next datagram may be fine.
                    tracing::debug!("ICMP receive failed: {error}");
                }
                Err(_would_block) => break,
            }
        }
    }
}

/// One datagram as `recvmsg` gave it.
struct Datagram {
    len: usize,
    from: IpAddr,
    kernel_time: Option<SystemTime>,
}

/// `recvmsg` with the sender's address and the `SCM_TIMESTAMPNS` control message. std and
/// socket2 give no portable access to ancillary data, hence libc.
fn receive(socket: &Socket, buffer: &mut [u8]) -> io::Result<Datagram> {
    let mut from = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    // Room for one timespec control message, 8-byte aligned as cmsghdr requires.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the recvmsg call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_name = from.as_mut_ptr().cast();
    message.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: a valid fd and a msghdr whose buffers are live and sized as declared.
    let len = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, 0) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled `from` up to msg_namelen; sockaddr_storage fits every family.
    let from = unsafe { from.assume_init() };
    Ok(Datagram {
        len: (len as usize).min(buffer.len()),
        from: sender(&from).ok_or_else(|| io::Error::other("datagram without an IP sender"))?,
        kernel_time: kernel_timestamp(&message),
    })
}

fn sender(storage: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// The `SCM_TIMESTAMPNS` control message, if the kernel attached one.
fn kernel_timestamp(message: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within msg_controllen.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(message);
        while !header.is_null() {
            let h = &*header;
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_TIMESTAMPNS {
                let time =
                    std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<libc::timespec>());
                let since_epoch = Duration::new(time.tv_sec as u64, time.tv_nsec as u32);
                return SystemTime::UNIX_EPOCH.checked_add(since_epoch);
            }
            header = libc::CMSG_NXTHDR(message, header);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(kernel_time: Option<SystemTime>, read_at: Instant) -> Answer {
        Answer {
            verdict: Verdict::EchoReply,
            kernel_time,
            read_at,
        }
    }

    #[test]
    fn the_rtt_is_taken_from_the_kernel_timestamp() {
        let sent = SentAt::now();
        let kernel = sent.wall + Duration::from_micros(30);
        let read_at = sent.monotonic + Duration::from_micros(400);
        assert_eq!(
            sent.rtt(&answer(Some(kernel), read_at)),
            Duration::from_micros(30),
            "the receive task's latency is not part of the RTT"
        );
    }

    #[test]
    fn a_wall_clock_step_falls_back_to_the_monotonic_clock() {
        let sent = SentAt::now();
        let read_at = sent.monotonic + Duration::from_micros(400);
        let stepped_back = sent.wall - Duration::from_secs(3600);
        let stepped_forward = sent.wall + Duration::from_secs(3600);
        for kernel in [Some(stepped_back), Some(stepped_forward), None] {
            assert_eq!(
                sent.rtt(&answer(kernel, read_at)),
                Duration::from_micros(400)
            );
        }
    }
}
