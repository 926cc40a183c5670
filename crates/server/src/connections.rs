//! Accepting and keeping connections: a cap on how many are open, a deadline for each request
//! head and for idle keep-alive connections, and a graceful stop.
//!
//! `axum::serve` has none of the first two: a client that opened connections and sent nothing
//! (or half a request head) kept each one, and its file descriptor, forever, until `accept`
//! failed with "Too many open files" and nobody else was served. Here:
//!
//! - at most `max_connections` are open. A connection that arrives when all are taken closes
//!   the open connection that has waited longest without a request in progress (one that sent
//!   nothing, half a head, or sits idle between requests); only when every connection is busy
//!   does it wait. Holding connections open therefore cannot lock anyone out;
//! - a request head must be complete within `header_timeout` of the connection's start, or of
//!   its first byte after an idle spell;
//! - a kept-alive connection may sit `idle_timeout` between requests.
//!
//! Neither deadline runs while a request is in progress, from the end of its head until the last
//! byte of its response is handed to the socket: runner long polls, slow uploads and multi-GB
//! downloads are never cut short. A failing `accept` (EMFILE and the like) closes one idle
//! connection, waits a moment and tries again; it never ends the loop or spins.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// How many connections may be open and how long they may wait.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; one more makes room by closing an idle one, or waits.
    pub max_connections: usize,
    /// The longest a request head may take to arrive.
    pub header_timeout: Duration,
    /// The longest a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Descriptors kept for everything but connections: the database, git, the embedded runner's
/// jobs, logs.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection cap that fits a limit of `fd_limit` open files: each connection may hold a
/// second descriptor (an artifact file being uploaded or downloaded), and
/// [`RESERVED_DESCRIPTORS`] stay for the rest; 448 for the usual 1,024, at most 16,384.
pub fn max_connections_for(fd_limit: u64) -> usize {
    let fit = fd_limit.saturating_sub(RESERVED_DESCRIPTORS) / 2;
    usize::try_from(fit.clamp(16, 16_384)).unwrap_or(16_384)
}

/// After an accept error, how long to wait before accepting again: long enough not to spin on
/// EMFILE, short enough that a freed descriptor is used at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How often an accept error is logged at most (a flood of them would flood the log).
const ACCEPT_ERROR_REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long to wait for a connection asked to make room before asking another.
const EVICTION_RETRY: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves; then stops accepting,
/// closes connections without a request in progress, lets the others finish their requests,
/// and returns when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let open = Arc::new(Open::default());
    let (stop, stopping) = watch::channel(false);
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    'accepting: loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break 'accepting,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    errors.note(&e);
                    // A descriptor is what is missing most often: an idle connection gives one.
                    open.evict_one();
                    tokio::select! {
                        () = &mut shutdown => break 'accepting,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => loop {
                let asked = open.evict_one();
                tokio::select! {
                    () = &mut shutdown => break 'accepting,
                    permit = slots.clone().acquire_owned() => {
                        break permit.expect("the connection semaphore is never closed");
                    }
                    // The connection asked may have started a request meanwhile: ask another.
                    () = tokio::time::sleep(EVICTION_RETRY), if asked => {}
                }
            },
        };
        let conn = open.add();
        let app = app.clone();
        let stopping = stopping.clone();
        let open = open.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let watched = Watched {
                stream,
                conn: conn.clone(),
            };
            match tls {
                None => serve_connection(watched, peer, app, &conn, limits, stopping).await,
                // The handshake is part of the request head: it gets the same deadline, so a
                // client that opens a connection and says nothing cannot hold it.
                Some(tls) => {
                    match tokio::time::timeout(limits.header_timeout, tls.accept(watched)).await {
                        Ok(Ok(secured)) => {
                            serve_connection(secured, peer, app, &conn, limits, stopping).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            open.remove(&conn);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection task holds one permit until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Runs one connection until it closes, its deadline passes, it is asked to make room while
/// idle, or the server stops.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    conn: &Arc<Conn>,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::start(conn.clone());
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let response = app.clone().oneshot(req);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _busy: busy })))
            }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = conn.deadline(&limits);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = conn.changed.notified() => {}
            () = sleep_until(deadline) => {
                if conn.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    return;
                }
            }
            () = conn.evict.notified() => {
                if !conn.is_busy() {
                    return;
                }
                conn.evicting.store(false, Ordering::Relaxed);
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                if !conn.is_busy() {
                    return;
                }
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Errors that concern one connection that was never really had, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Accept errors, reported at most once per [`ACCEPT_ERROR_REPORT_EVERY`].
#[derive(Default)]
struct AcceptErrors {
    last_report: Option<Instant>,
    unreported: u64,
}

impl AcceptErrors {
    fn note(&mut self, e: &io::Error) {
        self.unreported += 1;
        if self
            .last_report
            .is_some_and(|at| at.elapsed() < ACCEPT_ERROR_REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            errors = self.unreported,
            "cannot accept connections: {e}; closing idle connections and retrying"
        );
        self.last_report = Some(Instant::now());
        self.unreported = 0;
    }
}

/// What one connection is doing, as far as its deadlines care.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head to complete, since the connection's start or the first byte
    /// after an idle spell.
    Head(Instant),
    /// Serving this many requests (more than one only with HTTP/2).
    Busy(usize),
    /// Between requests, since this instant.
    Idle(Instant),
}

/// One open connection, shared by its task, its reads and its requests.
struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    /// Woken when the phase changes, so the task waits for the right deadline.
    changed: Notify,
    /// Asks the task to close the connection if it is not busy.
    evict: Notify,
    /// Already asked to close; not asked again.
    evicting: AtomicBool,
}

impl Conn {
    fn phase(&self) -> Phase {
        *self.phase.lock().expect("connection phase lock")
    }

    fn set(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        *phase = change(*phase);
        drop(phase);
        self.changed.notify_one();
    }

    fn is_busy(&self) -> bool {
        matches!(self.phase(), Phase::Busy(_))
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        match self.phase() {
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Bytes arrived: after an idle spell, they begin a request head.
    fn heard(&self) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }
}

/// Every open connection, to find one to close when all slots are taken.
#[derive(Default)]
struct Open {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Open {
    fn add(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
        });
        self.conns
            .lock()
            .expect("open connections lock")
            .insert(conn.id, conn.clone());
        conn
    }

    fn remove(&self, conn: &Conn) {
        self.conns
            .lock()
            .expect("open connections lock")
            .remove(&conn.id);
    }

    /// Asks the connection that has waited longest without a request in progress to close;
    /// `false` when every connection is busy (or already asked).
    fn evict_one(&self) -> bool {
        let conns = self.conns.lock().expect("open connections lock");
        let oldest = conns
            .values()
            .filter(|c| !c.evicting.load(Ordering::Relaxed))
            .filter_map(|c| match c.phase() {
                Phase::Head(since) | Phase::Idle(since) => Some((since, c)),
                Phase::Busy(_) => None,
            })
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, conn)) => {
                conn.evicting.store(true, Ordering::Relaxed);
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// One request in progress on a connection, from its head to the end of its response body.
struct Busy(Arc<Conn>);

impl Busy {
    fn start(conn: Arc<Conn>) -> Busy {
        conn.set(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
        });
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that keeps its connection busy until it is sent (or dropped).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream, telling its connection when bytes arrive.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.heard();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_fits_the_open_file_limit() {
        assert_eq!(max_connections_for(1024), 448);
        assert_eq!(max_connections_for(256), 64);
        assert_eq!(max_connections_for(100), 16);
        assert_eq!(max_connections_for(1 << 20), 16_384);
        assert_eq!(max_connections_for(u64::MAX), 16_384);
    }
}
