//! A bounded HTTP/1.1 server: what `/metrics` runs on, and what an application's own API can
//! run on (the example backend does). No client can hold it open, fill it or outlast a
//! shutdown:
//!
//! | what | bound ([`Limits`]) |
//! |---|---|
//! | sending a request head, and waiting between keep-alive requests | `head_timeout`, then the connection is closed |
//! | a request head's size | `max_head_bytes` (larger: 431) |
//! | a request, from its head to the answer's head (reading the body included) | `request_timeout`, then 503 |
//! | one connection's lifetime | `connection_lifetime`, then it is closed once the answer in progress is written (at most `request_timeout` + `write_timeout` more) |
//! | writing an answer to a client that does not read | `write_timeout` without progress, then the connection is closed |
//! | connections open at once | `max_connections`; at the cap, the oldest connection that has not sent a whole request head (new or idle) is closed to make room, and only when every connection is busy is the new one closed at once |
//! | shutdown | stop accepting, let requests in flight finish for `shutdown_grace`, then close whatever is left |
//!
//! A failing `accept` (out of file descriptors) is retried after a pause instead of spinning.
//!
//! ```
//! use std::convert::Infallible;
//! use backstage_telemetry::server::{Limits, serve};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let hello = hyper::service::service_fn(|_request| async {
//!     Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::<hyper::body::Bytes>::from("hello\n")))
//! });
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve(listener, hello, Limits::default(), async {
//!     let _ = stopped.await;
//! }));
//! // ... serve until it is time to stop:
//! let _ = stop.send(());
//! server.await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Notify, watch};

/// What one client may take of a [`serve`]d server.
///
/// ```
/// use std::time::Duration;
/// let limits = backstage_telemetry::server::Limits {
///     max_connections: 1024,
///     ..Default::default()
/// };
/// assert_eq!(limits.head_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once (default 512). Keep it well below the process's file
    /// descriptor limit, so other servers in the process (`/metrics`) still accept.
    pub max_connections: usize,
    /// How long a client has to send a request head, the first and each one after (default
    /// 5 s): also how long an idle keep-alive connection is kept.
    pub head_timeout: Duration,
    /// The largest request head, in bytes (default 16 KiB).
    pub max_head_bytes: usize,
    /// From a request's head to its answer's head, reading its body included (default 30 s).
    pub request_timeout: Duration,
    /// How long one connection is kept (default 5 min); an answer in progress then is still
    /// written, for at most `request_timeout` + `write_timeout` more.
    pub connection_lifetime: Duration,
    /// How long a write of an answer may make no progress (the client does not read)
    /// before the connection is closed (default 10 s).
    pub write_timeout: Duration,
    /// At shutdown, how long requests in flight may take before their connections are
    /// closed (default 10 s).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            head_timeout: Duration::from_secs(5),
            max_head_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            connection_lifetime: Duration::from_secs(300),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`serve`] runs: a hyper service, cloned for each connection, whose answers' body
/// can also be made from a string (for the `503` of a request past its deadline): axum's
/// `Router` through `hyper_util::service::TowerToHyperService`, or a `service_fn` answering
/// `Full<Bytes>`. Implemented for every such service.
pub trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    /// The answers' body.
    type Body: Body<Data: Send, Error: Into<BoxError>> + From<&'static str> + Send + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data: Send, Error: Into<BoxError>> + From<&'static str> + Send + 'static,
{
    type Body = B;
}

/// Serves `service` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish for [`Limits::shutdown_grace`] and closes the
/// connections still open. Returns when every connection is closed.
///
/// The service answers each request of every connection; a request it has not answered
/// within [`Limits::request_timeout`] gets a `503`. Its body type must be buildable from a
/// string, for that answer (axum's `Body` and `Full<Bytes>` are).
pub async fn serve<S: HttpService>(
    listener: tokio::net::TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let table = Arc::new(Table::new(limits.max_connections.max(1)));
    let (closing, closed) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // reap finished connections as they go, so the set stays small
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match accepted {
            Ok((stream, _)) => {
                // At the cap with every connection busy: closed at once, so the backlog never
                // fills with them.
                let Some(slot) = table.admit() else {
                    continue;
                };
                tasks.spawn(connection(
                    stream,
                    service.clone(),
                    limits,
                    slot,
                    closed.clone(),
                ));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        // whatever is left (a client still sending a head, a request still running) is closed
        tasks.shutdown().await;
    }
}

/// Serves one connection until it closes, is evicted, outlives its lifetime or the server
/// shuts down.
async fn connection<S: HttpService>(
    stream: tokio::net::TcpStream,
    service: S,
    limits: Limits,
    slot: Slot,
    mut closing: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let progress = Arc::new(WriteProgress::default());
    let stream = Watched {
        io: stream,
        progress: progress.clone(),
    };
    let bounded = Bounded {
        inner: service,
        busy: slot.busy.clone(),
        timeout: limits.request_timeout,
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), bounded);
    tokio::pin!(connection);
    // the lifetime; then the answer in progress gets its deadline and a write's worth more
    let lifetime = tokio::time::sleep(limits.connection_lifetime);
    tokio::pin!(lifetime);
    let mut stall_check =
        tokio::time::interval((limits.write_timeout / 4).max(Duration::from_millis(10)));
    stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut graceful = false;
    let mut last_answer = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            // made room for a newer connection: it had sent no whole request head
            () = slot.evicted.notified() => return,
            () = &mut lifetime => {
                if last_answer {
                    return;
                }
                last_answer = true;
                graceful = true;
                connection.as_mut().graceful_shutdown();
                lifetime.as_mut().reset(
                    tokio::time::Instant::now() + limits.request_timeout + limits.write_timeout,
                );
            }
            _ = stall_check.tick() => {
                if progress.stalled_for() > limits.write_timeout {
                    return;
                }
            }
            changed = closing.changed(), if !graceful => {
                if changed.is_err() || *closing.borrow() {
                    graceful = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Since when a connection's writes have made no progress (the client does not read).
#[derive(Debug)]
struct WriteProgress {
    start: std::time::Instant,
    /// Milliseconds from `start` to the first write that found the socket full since the
    /// last one that wrote, plus one; 0 while writes go through.
    stalled_at: AtomicU64,
}

impl Default for WriteProgress {
    fn default() -> Self {
        WriteProgress {
            start: std::time::Instant::now(),
            stalled_at: AtomicU64::new(0),
        }
    }
}

impl WriteProgress {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// A write that could not go through.
    fn blocked(&self) {
        let now = self.now();
        let _ = self
            .stalled_at
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A write that went through (or nothing left to write).
    fn moved(&self) {
        self.stalled_at.store(0, Ordering::Relaxed);
    }

    fn stalled_for(&self) -> Duration {
        match self.stalled_at.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.now().saturating_sub(since)),
        }
    }

    fn track<T>(
        &self,
        poll: Poll<std::io::Result<T>>,
        wrote: impl Fn(&T) -> bool,
    ) -> Poll<std::io::Result<T>> {
        match &poll {
            Poll::Pending => self.blocked(),
            Poll::Ready(Ok(value)) if wrote(value) => self.moved(),
            Poll::Ready(_) => {}
        }
        poll
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket, noting when its writes stop making progress.
    struct Watched<T> {
        #[pin]
        io: T,
        progress: Arc<WriteProgress>,
    }
}

impl<T: tokio::io::AsyncRead> tokio::io::AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite> tokio::io::AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        this.progress.track(this.io.poll_write(cx, buf), |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        this.progress
            .track(this.io.poll_write_vectored(cx, bufs), |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        this.progress.track(this.io.poll_flush(cx), |()| true)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// The open connections, oldest first, each with whether it is in a request.
#[derive(Debug)]
struct Table {
    capacity: usize,
    next: AtomicUsize,
    open: std::sync::Mutex<BTreeMap<usize, Arc<Entry>>>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Requests being answered (answers being sent included).
    busy: Arc<AtomicUsize>,
    evicted: Arc<Notify>,
}

/// A connection's place in the [`Table`]; freed on drop.
struct Slot {
    table: Arc<Table>,
    id: usize,
    busy: Arc<AtomicUsize>,
    evicted: Arc<Notify>,
}

impl Table {
    fn new(capacity: usize) -> Table {
        Table {
            capacity,
            next: AtomicUsize::new(0),
            open: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// A place for a new connection: free, or made by evicting the oldest connection that is
    /// not in a request; `None` when every one is.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = crate::sync::lock(&self.open);
        if open.len() >= self.capacity {
            let idle = open
                .iter()
                .find(|(_, entry)| entry.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(entry) = open.remove(&idle) {
                entry.evicted.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry::default());
        open.insert(id, entry.clone());
        Some(Slot {
            table: self.clone(),
            id,
            busy: entry.busy.clone(),
            evicted: entry.evicted.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::sync::lock(&self.table.open).remove(&self.id);
    }
}

/// The service with a deadline per request, counting the requests in progress.
#[derive(Clone)]
struct Bounded<S> {
    inner: S,
    busy: Arc<AtomicUsize>,
    timeout: Duration,
}

impl<S, B> Service<Request<Incoming>> for Bounded<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body + From<&'static str>,
{
    type Response = Response<Counted<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::new(self.busy.clone());
        let answer = tokio::time::timeout(self.timeout, self.inner.call(request));
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response?,
                Err(_) => {
                    let mut response = Response::new(B::from("the request took too long\n"));
                    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    response
                }
            };
            // busy until the answer's body has been sent (or dropped)
            Ok(response.map(|body| Counted { body, _busy: busy }))
        })
    }
}

/// One request in progress on a connection, for as long as it lives.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(count: Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::AcqRel);
        Busy(count)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// An answer's body, keeping its connection busy until it is sent.
    struct Counted<B> {
        #[pin]
        body: B,
        _busy: Busy,
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `service` within `limits` on a thread of its own for at most 20 s.
    fn serving<S: HttpService>(service: S, limits: Limits) -> std::net::SocketAddr {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            runtime.block_on(async {
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    serve(listener, service, limits, std::future::pending()),
                )
                .await;
            });
        });
        address
    }

    /// A client that asks for a large answer and never reads it is cut off once the
    /// server's writes have made no progress for `write_timeout`, mid-answer, long before
    /// the connection's lifetime.
    #[test]
    fn a_client_that_never_reads_is_cut_off_when_writes_stall() {
        use std::io::{Read, Write};
        const ANSWER: usize = 64 << 20;
        let big = hyper::service::service_fn(|_| async {
            Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                hyper::body::Bytes::from(vec![b'x'; ANSWER]),
            )))
        });
        let address = serving(
            big,
            Limits {
                write_timeout: Duration::from_millis(300),
                ..Limits::default()
            },
        );
        let mut client = std::net::TcpStream::connect(address).unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut received = Vec::new();
        let end = client.read_to_end(&mut received);
        assert!(
            received.len() < ANSWER,
            "the whole answer ({} bytes) was kept for a client that did not read",
            received.len()
        );
        // closed by the server (end of stream or reset), not still open when the read
        // timed out
        if let Err(error) = end {
            assert!(
                !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the connection was still open: {error}"
            );
        }
    }

    /// An answer in progress when the connection's lifetime ends is still written.
    #[test]
    fn an_answer_in_progress_at_the_end_of_the_lifetime_is_written() {
        use std::io::{Read, Write};
        let slow = hyper::service::service_fn(|_| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                hyper::body::Bytes::from_static(b"done"),
            )))
        });
        let address = serving(
            slow,
            Limits {
                connection_lifetime: Duration::from_millis(200),
                head_timeout: Duration::from_millis(100),
                ..Limits::default()
            },
        );
        let mut client = std::net::TcpStream::connect(address).unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = String::new();
        let _ = client.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(answer.ends_with("done"), "{answer:?}");
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let table = Arc::new(Table::new(3));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let third = table.admit().unwrap();
        // the oldest is in a request: the next oldest goes
        let _request = Busy::new(first.busy.clone());
        let fourth = table.admit().expect("room made");
        assert_eq!(
            crate::sync::lock(&table.open)
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [first.id, third.id, fourth.id]
        );
        // every one busy: refused
        let _busy = [&third, &fourth].map(|slot| Busy::new(slot.busy.clone()));
        assert!(table.admit().is_none());
        drop(second);
        drop(first);
        assert!(
            table.admit().is_some(),
            "a closed connection frees its place"
        );
    }
}
