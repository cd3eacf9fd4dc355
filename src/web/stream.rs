//! A response body rendered while it is sent: bounded chunks through a bounded channel, gzip
//! compressed on the way when asked, abandoned when the client goes away or stops reading.
//!
//! At a million series the exposition is ~100 MB; holding it whole per scrape (and again
//! compressed) is what made memory grow with every concurrent scrape.

use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::body::{Body, Bytes};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::metrics::encode::{ChunkSink, Encoder};
use crate::metrics::Format;

/// Size of a rendered chunk: large enough that per-chunk costs vanish, small enough that a
/// scrape holds little memory.
pub const CHUNK_BYTES: usize = 128 * 1024;

/// Chunks rendered ahead of what the client has taken, at most.
const CHUNKS_AHEAD: usize = 4;

/// A client that takes no chunk for this long is given up on, so a stuck scraper cannot pin
/// a rendering thread and the snapshot it reads forever. Far above any scrape timeout.
const STALLED_CLIENT: Duration = Duration::from_secs(120);

type Item = std::io::Result<Bytes>;

/// Hands chunks to the response body from a blocking thread.
#[derive(Clone)]
struct BodySender {
    tx: mpsc::Sender<Item>,
    runtime: Handle,
}

impl BodySender {
    /// Waits for room in the channel; false when the body is gone or the client stalled.
    fn send(&self, item: Item) -> bool {
        let send = tokio::time::timeout(STALLED_CLIENT, self.tx.send(item));
        matches!(self.runtime.block_on(send), Ok(Ok(())))
    }
}

/// Chunks go out as rendered.
struct PlainSink(BodySender);

impl ChunkSink for PlainSink {
    fn chunk(&mut self, bytes: Vec<u8>) -> bool {
        self.0.send(Ok(Bytes::from(bytes)))
    }
}

/// Chunks go through one gzip stream; whatever it has compressed so far goes out.
struct GzipSink {
    gzip: Option<flate2::write::GzEncoder<Vec<u8>>>,
    body: BodySender,
}

impl GzipSink {
    fn new(body: BodySender) -> Self {
        // Fast level: the scrape is on the clock, the network is not.
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        GzipSink {
            gzip: Some(gzip),
            body,
        }
    }
}

impl ChunkSink for GzipSink {
    fn chunk(&mut self, bytes: Vec<u8>) -> bool {
        let Some(gzip) = self.gzip.as_mut() else {
            return false;
        };
        if gzip.write_all(&bytes).is_err() {
            return false;
        }
        let packed = std::mem::take(gzip.get_mut());
        packed.is_empty() || self.body.send(Ok(Bytes::from(packed)))
    }

    fn end(&mut self) {
        if let Some(Ok(rest)) = self.gzip.take().map(|gzip| gzip.finish()) {
            self.body.send(Ok(Bytes::from(rest)));
        }
    }
}

/// A body whose bytes `render` writes into the encoder it is given, on a blocking thread, as
/// the client reads. A panic while rendering aborts the body (the client sees a broken
/// transfer, never a short exposition that looks complete).
pub fn rendered_body<F>(format: Format, gzip: bool, render: F) -> Body
where
    F: FnOnce(&mut Encoder) + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Item>(CHUNKS_AHEAD);
    let body = BodySender {
        tx,
        runtime: Handle::current(),
    };
    tokio::task::spawn_blocking(move || {
        let sink: Box<dyn ChunkSink> = if gzip {
            Box::new(GzipSink::new(body.clone()))
        } else {
            Box::new(PlainSink(body.clone()))
        };
        let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut enc = Encoder::streaming(format, CHUNK_BYTES, sink);
            render(&mut enc);
            enc.finish();
        }));
        if rendered.is_err() {
            tracing::error!("rendering an exposition failed; the response was aborted");
            body.send(Err(std::io::Error::other("rendering failed")));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::outcome::Value;
    use futures_util::StreamExt as _;

    fn many_lines(enc: &mut Encoder) {
        for i in 0..50_000u64 {
            enc.sample("ispmonitor_x", [("i", "v")], Value::Int(i));
        }
    }

    fn expected() -> String {
        let mut enc = Encoder::new(Format::OpenMetrics);
        many_lines(&mut enc);
        enc.finish()
    }

    #[tokio::test]
    async fn a_streamed_body_is_the_buffered_exposition_in_bounded_chunks() {
        let mut body = rendered_body(Format::OpenMetrics, false, many_lines).into_data_stream();
        let mut text = Vec::new();
        let mut chunks = 0;
        while let Some(data) = body.next().await {
            let data = data.expect("chunk");
            // A chunk ends at the first complete line past CHUNK_BYTES.
            assert!(data.len() < CHUNK_BYTES + 100, "chunk of {}", data.len());
            text.extend_from_slice(&data);
            chunks += 1;
        }
        assert!(chunks > 5, "{chunks} chunks");
        assert_eq!(String::from_utf8(text).unwrap(), expected());
    }

    #[tokio::test]
    async fn a_gzip_body_inflates_to_the_buffered_exposition() {
        let body = rendered_body(Format::OpenMetrics, true, many_lines);
        let packed = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut text)
            .expect("valid gzip");
        assert_eq!(text, expected());
    }

    #[tokio::test]
    async fn rendering_stops_when_the_body_is_dropped() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let body = rendered_body(Format::Text, false, move |enc| {
            let mut lines = 0u64;
            // Without a reader this would run for a very long time.
            while !enc.is_stopped() && lines < 100_000_000 {
                enc.sample("ispmonitor_x", [], Value::Int(lines));
                lines += 1;
            }
            let _ = done_tx.send(lines);
        });
        let mut stream = body.into_data_stream();
        let first = stream.next().await.expect("a first chunk");
        assert!(first.is_ok());
        drop(stream);
        let lines = done_rx.await.expect("renderer ended");
        assert!(lines < 100_000_000, "rendered {lines} lines for nobody");
    }

    #[tokio::test]
    async fn a_panic_while_rendering_aborts_the_body() {
        let body = rendered_body(Format::Text, false, |enc| {
            many_lines(enc);
            panic!("bug while rendering");
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
    }
}
