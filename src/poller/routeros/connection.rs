//! One RouterOS API connection: TCP (and TLS) connect, login, then batches of commands sent
//! at once with a `.tag` each and their answers read back by tag, all under the poll's deadline.

use std::sync::Arc;

use md5::{Digest, Md5};
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::TlsConnector;

use super::error::{RouterOsError, Stage};
use super::word::{take_sentence, Command, Reply, ReplyKind};
use crate::config::RouterOsCredential;

/// The most bytes one batch of answers may take. A full print of a big router's `/interface`
/// is a few MB; this bounds what a hostile or broken router can make the poller hold.
pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A byte stream the API runs over: plain TCP or TLS.
pub trait ApiStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ApiStream for T {}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct ConnectSettings {
    pub host: String,
    pub port: u16,
    pub credential: RouterOsCredential,
    /// Built once from the credential's TLS settings; `None` for the plain API.
    pub tls: Option<(Arc<ClientConfig>, rustls::pki_types::ServerName<'static>)>,
}

/// What the router answered to one command of a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Answer {
    /// The `!re` rows.
    pub rows: Vec<Reply>,
    /// `ret` of the `!done` (the count of a count-only print).
    pub ret: Option<String>,
    /// `message` of a `!trap`, when the router refused the command.
    pub trap: Option<String>,
}

/// A logged-in connection; dropping it closes it.
pub struct Connection {
    stream: Box<dyn ApiStream>,
    /// Bytes read but not yet decoded into a sentence.
    buffer: Vec<u8>,
}

/// Connects, negotiates TLS when configured and logs in, all before `deadline`.
pub async fn connect(
    settings: &ConnectSettings,
    deadline: Instant,
) -> Result<Connection, RouterOsError> {
    let tcp = tcp_connect(&settings.host, settings.port, deadline).await?;
    let stream: Box<dyn ApiStream> = match &settings.tls {
        None => Box::new(tcp),
        Some((config, name)) => {
            let handshake = TlsConnector::from(config.clone()).connect(name.clone(), tcp);
            match timeout_at(deadline, handshake).await {
                Err(_) => return Err(RouterOsError::Timeout(Stage::TlsHandshake)),
                Ok(Err(error)) => return Err(tls_error(&error)),
                Ok(Ok(tls)) => Box::new(tls),
            }
        }
    };
    let mut connection = Connection {
        stream,
        buffer: Vec::new(),
    };
    match timeout_at(deadline, connection.login(&settings.credential)).await {
        Err(_) => Err(RouterOsError::Timeout(Stage::Login)),
        Ok(result) => result.map(|()| connection),
    }
}

/// The handshake error without the io wrapper, which says nothing more.
fn tls_error(error: &std::io::Error) -> RouterOsError {
    match error.get_ref() {
        Some(inner) => RouterOsError::Tls(inner.to_string()),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            RouterOsError::Tls("the router closed the connection during the handshake".into())
        }
        None => RouterOsError::Tls(error.kind().to_string()),
    }
}

/// Resolves with tokio (never the blocking resolver) and tries each address in turn.
async fn tcp_connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, RouterOsError> {
    let addresses = match timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
        Err(_) => return Err(RouterOsError::Timeout(Stage::Connect)),
        Ok(Err(_)) => return Err(RouterOsError::Resolve),
        Ok(Ok(addresses)) => addresses,
    };
    let mut last = RouterOsError::Resolve;
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Err(_) => return Err(RouterOsError::Timeout(Stage::Connect)),
            Ok(Ok(stream)) => {
                // Small request/answer exchanges: Nagle would only add latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(error)) => last = RouterOsError::Unreachable(error.kind()),
        }
    }
    Err(last)
}

impl Connection {
    /// `/login` with name and password (RouterOS 6.43 and later). A router older than that
    /// answers with a challenge instead, which is then answered the MD5 way.
    async fn login(&mut self, credential: &RouterOsCredential) -> Result<(), RouterOsError> {
        let login = Command::new("/login")
            .attribute("name", &credential.username)
            .attribute("password", credential.password.expose());
        let Some(challenge) = self.login_exchange(&login).await? else {
            return Ok(());
        };
        let response = challenge_response(credential.password.expose(), &challenge)?;
        let legacy = Command::new("/login")
            .attribute("name", &credential.username)
            .attribute("response", &response);
        match self.login_exchange(&legacy).await? {
            None => Ok(()),
            Some(_) => Err(RouterOsError::Unexpected(
                "the router asked for a second login challenge".into(),
            )),
        }
    }

    /// Sends one login command and returns the `ret` of its `!done`; a `!trap` is a refused
    /// login. RouterOS follows that `!trap` with a `!done`, which is not waited for: the
    /// connection is dropped anyway.
    async fn login_exchange(&mut self, command: &Command) -> Result<Option<String>, RouterOsError> {
        self.write(&command.encode()).await?;
        let mut received = 0usize;
        loop {
            let reply = self.read_reply(&mut received).await?;
            match reply.kind {
                ReplyKind::Done => return Ok(reply.get("ret").map(str::to_string)),
                ReplyKind::Trap => {
                    let message = reply.get("message").unwrap_or("no message");
                    return Err(RouterOsError::LoginRefused(
                        message.chars().take(200).collect(),
                    ));
                }
                ReplyKind::Fatal => return Err(fatal(&reply)),
                ReplyKind::Re | ReplyKind::Empty => {}
            }
        }
    }

    /// Sends a batch made by [`encode_batch`] (every command at once, each tagged with its
    /// index) and collects the `count` answers by tag. A `!trap` is recorded in that command's
    /// answer; the others still complete.
    pub async fn run(&mut self, batch: &[u8], count: usize) -> Result<Vec<Answer>, RouterOsError> {
        self.write(batch).await?;
        let mut answers = vec![Answer::default(); count];
        let mut open = count;
        let mut received = 0usize;
        while open > 0 {
            let reply = self.read_reply(&mut received).await?;
            if reply.kind == ReplyKind::Fatal {
                return Err(fatal(&reply));
            }
            let index = reply
                .tag
                .as_deref()
                .and_then(|tag| tag.parse::<usize>().ok())
                .filter(|index| *index < count)
                .ok_or_else(|| {
                    RouterOsError::Unexpected(format!(
                        "a reply with an unknown tag {:?}",
                        reply
                            .tag
                            .as_deref()
                            .map(|t| t.chars().take(32).collect::<String>())
                    ))
                })?;
            let answer = &mut answers[index];
            match reply.kind {
                ReplyKind::Re => answer.rows.push(reply),
                ReplyKind::Trap => {
                    answer.trap = Some(reply.get("message").unwrap_or("no message").to_string());
                }
                ReplyKind::Done => {
                    answer.ret = reply.get("ret").map(str::to_string);
                    open -= 1;
                }
                ReplyKind::Empty | ReplyKind::Fatal => {}
            }
        }
        Ok(answers)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), RouterOsError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|_| RouterOsError::ConnectionLost)?;
        self.stream
            .flush()
            .await
            .map_err(|_| RouterOsError::ConnectionLost)
    }

    /// The next non-empty sentence as a reply; `received` counts the batch's bytes.
    async fn read_reply(&mut self, received: &mut usize) -> Result<Reply, RouterOsError> {
        loop {
            if let Some(words) = take_sentence(&mut self.buffer)? {
                if words.is_empty() {
                    continue;
                }
                return Ok(Reply::parse(&words)?);
            }
            if *received > MAX_BATCH_BYTES {
                return Err(RouterOsError::TooMuchData(MAX_BATCH_BYTES));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let read = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|_| RouterOsError::ConnectionLost)?;
            if read == 0 {
                return Err(RouterOsError::ConnectionLost);
            }
            *received += read;
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// The bytes of a batch: every command tagged with its index, for [`Connection::run`]. The
/// same commands go out on every poll, so a poller encodes them once.
pub fn encode_batch(commands: &[Command]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        bytes.extend(command.clone().tagged(&i.to_string()).encode());
    }
    bytes
}

fn fatal(reply: &Reply) -> RouterOsError {
    let message = reply.fatal_message.as_deref().unwrap_or("no reason given");
    RouterOsError::Fatal(message.chars().take(200).collect())
}

/// The pre-6.43 login answer: `00` + hex(md5(0x00 + password + challenge)).
pub fn challenge_response(password: &str, challenge_hex: &str) -> Result<String, RouterOsError> {
    let challenge = hex_decode(challenge_hex).ok_or_else(|| {
        RouterOsError::Unexpected("a login challenge that is not hexadecimal".into())
    })?;
    let mut md5 = Md5::new();
    md5.update([0u8]);
    md5.update(password.as_bytes());
    md5.update(&challenge);
    let digest = md5.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("00{hex}"))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_challenge_is_answered_as_routeros_before_6_43_expects() {
        // Reference value from coreutils:
        // printf '\x00secret\x01\x23\x45\x67\x89\xab\xcd\xef' (twice) | md5sum
        let response = challenge_response("secret", "0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(response, "00ebbe7c3df6b3d902bfd1f355c6e63289");
        assert!(challenge_response("secret", "0g").is_err());
        assert!(challenge_response("secret", "abc").is_err());
    }
}
