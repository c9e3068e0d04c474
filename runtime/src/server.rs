//! A bounded HTTP/1.1 server: what `/metrics` runs on, and what an application's own API can
//! run on (the example backend does). No client can hold it open, fill it or outlast a
//! shutdown:
//!
//! | what | bound ([`Limits`]) |
//! |---|---|
//! | sending a request head, and waiting between keep-alive requests | `head_timeout`, then the connection is closed |
//! | a request head's size | `max_head_bytes` (larger: 431) |
//! | a request, from its head to the answer's head (reading the body included) | `request_timeout`, then 503 |
//! | a request body, while the service waits for it | after `body_grace` of waiting, at least `min_body_rate` bytes per second on average, else 408 and the connection is closed |
//! | one connection's lifetime | `connection_lifetime`, then it is closed once the answer in progress is written (at most `request_timeout` + `write_timeout` more) |
//! | writing an answer to a client that does not read | `write_timeout` without progress, then the connection is closed |
//! | connections open at once | `max_connections`; at the cap, an idle connection (not in a request, not writing an answer) is closed to make room: one that never sent a request first, then the least recently active; only when every connection is busy is the new one closed at once |
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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// The slowest a request body may arrive, in bytes per second on average over the time
    /// the service has waited for it (default 240, as Kestrel's minimum request body data
    /// rate); 0 turns the check off. Only time spent waiting counts: a service that reads
    /// the body late is not held against the client.
    pub min_body_rate: u32,
    /// How long the service may wait for a request body before `min_body_rate` applies
    /// (default 5 s).
    pub body_grace: Duration,
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
            min_body_rate: 240,
            body_grace: Duration::from_secs(5),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`serve`] runs: a hyper service of [`RequestBody`] requests, cloned for each
/// connection, whose answers' body can also be made from a string (for the `503` of a
/// request past its deadline and the `408` of a body too slow): axum's `Router` through
/// `hyper_util::service::TowerToHyperService`, or a `service_fn` answering `Full<Bytes>`.
/// Implemented for every such service.
pub trait HttpService:
    Service<
        Request<RequestBody>,
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
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
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
/// within [`Limits::request_timeout`] gets a `503`, one whose body arrives slower than
/// [`Limits::min_body_rate`] a `408` (whatever the service answers; the service sees the
/// body fail with [`BodyTooSlow`]). Its body type must be buildable from a string, for
/// those answers (axum's `Body` and `Full<Bytes>` are).
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
    let stream = Watched {
        io: stream,
        entry: slot.entry.clone(),
    };
    let bounded = Bounded {
        inner: service,
        entry: slot.entry.clone(),
        timeout: limits.request_timeout,
        pace: (limits.min_body_rate > 0).then_some(Pace {
            min_rate: limits.min_body_rate,
            grace: limits.body_grace,
        }),
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
            () = slot.entry.evicted.notified() => return,
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
                if slot.entry.writes.stalled_for() > limits.write_timeout {
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
    clock: Clock,
    /// The [`Clock`] reading at the first write that found the socket full since the last
    /// one that wrote; 0 while writes go through.
    stalled_at: AtomicU64,
}

impl WriteProgress {
    fn new(clock: Clock) -> Self {
        WriteProgress {
            clock,
            stalled_at: AtomicU64::new(0),
        }
    }

    /// A write that could not go through.
    fn blocked(&self) {
        // the clock is read once per stall, not at every write that finds the socket full
        if self.stalled_at.load(Ordering::Relaxed) == 0 {
            let _ = self.stalled_at.compare_exchange(
                0,
                self.clock.now(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// A write that went through (or nothing left to write).
    fn moved(&self) {
        self.stalled_at.store(0, Ordering::Relaxed);
    }

    /// Whether an answer is still being written to a client that is slow to read it.
    fn writing(&self) -> bool {
        self.stalled_at.load(Ordering::Relaxed) != 0
    }

    fn stalled_for(&self) -> Duration {
        match self.stalled_at.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.clock.now().saturating_sub(since)),
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

/// Milliseconds since the server started, plus one (0 stands for "never").
#[derive(Clone, Copy, Debug)]
struct Clock(std::time::Instant);

impl Clock {
    fn now(self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }
}

pin_project_lite::pin_project! {
    /// A connection's socket, noting when its writes stop making progress.
    struct Watched<T> {
        #[pin]
        io: T,
        entry: Arc<Entry>,
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
        this.entry
            .writes
            .track(this.io.poll_write(cx, buf), |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        this.entry
            .writes
            .track(this.io.poll_write_vectored(cx, bufs), |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        this.entry.writes.track(this.io.poll_flush(cx), |()| true)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// The open connections, in accept order, each with what it is doing.
#[derive(Debug)]
struct Table {
    capacity: usize,
    clock: Clock,
    next: AtomicUsize,
    open: std::sync::Mutex<BTreeMap<usize, Arc<Entry>>>,
}

/// One open connection.
#[derive(Debug)]
struct Entry {
    /// Requests being answered (answers being sent included).
    busy: AtomicUsize,
    /// Whether it has sent a request.
    sent_request: AtomicBool,
    /// The [`Clock`] reading when a request of it last started or ended.
    last_active: AtomicU64,
    writes: WriteProgress,
    evicted: Notify,
    /// Whether the request in progress had its body cut off for arriving too slowly.
    body_cut: AtomicBool,
    /// Wakes the request in progress when its body is cut off.
    body_cut_notify: Notify,
}

impl Entry {
    fn new(clock: Clock) -> Entry {
        Entry {
            busy: AtomicUsize::new(0),
            sent_request: AtomicBool::new(false),
            last_active: AtomicU64::new(clock.now()),
            writes: WriteProgress::new(clock),
            evicted: Notify::new(),
            body_cut: AtomicBool::new(false),
            body_cut_notify: Notify::new(),
        }
    }

    /// Neither answering a request nor writing an answer.
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0 && !self.writes.writing()
    }

    /// Which idle connection goes first to make room: one that never sent a request (in
    /// accept order), then the one least recently active.
    fn eviction_order(&self) -> (bool, u64) {
        (
            self.sent_request.load(Ordering::Relaxed),
            self.last_active.load(Ordering::Relaxed),
        )
    }
}

/// A connection's place in the [`Table`]; freed on drop.
struct Slot {
    table: Arc<Table>,
    id: usize,
    entry: Arc<Entry>,
}

impl Table {
    fn new(capacity: usize) -> Table {
        Table {
            capacity,
            clock: Clock(std::time::Instant::now()),
            next: AtomicUsize::new(0),
            open: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// A place for a new connection: free, or made by evicting an idle connection (see
    /// [`Entry::eviction_order`]); `None` when every one is busy.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = crate::sync::lock(&self.open);
        if open.len() >= self.capacity {
            let idle = open
                .iter()
                .filter(|(_, entry)| entry.idle())
                .min_by_key(|(id, entry)| (entry.eviction_order(), **id))
                .map(|(id, _)| *id)?;
            if let Some(entry) = open.remove(&idle) {
                entry.evicted.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry::new(self.clock));
        open.insert(id, entry.clone());
        Some(Slot {
            table: self.clone(),
            id,
            entry,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::sync::lock(&self.table.open).remove(&self.id);
    }
}

/// The service with a deadline per request and a minimum body rate, counting the requests
/// in progress.
#[derive(Clone)]
struct Bounded<S> {
    inner: S,
    entry: Arc<Entry>,
    timeout: Duration,
    pace: Option<Pace>,
}

impl<S, B> Service<Request<Incoming>> for Bounded<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body + From<&'static str>,
{
    type Response = Response<Counted<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::new(self.entry.clone());
        self.entry.body_cut.store(false, Ordering::Relaxed);
        let request = request.map(|body| RequestBody {
            // a request without a body (most) has no rate to keep
            pace: self
                .pace
                .filter(|_| !body.is_end_stream())
                .map(|pace| Paced::new(pace, self.entry.clone())),
            inner: body,
        });
        let answer = tokio::time::timeout(self.timeout, self.inner.call(request));
        Box::pin(async move {
            let entry = &busy.0;
            // registered before the service first reads the body
            let cut = entry.body_cut_notify.notified();
            let answered = tokio::select! {
                answered = answer => Some(answered),
                () = cut => None,
            };
            let response = if entry.body_cut.load(Ordering::Relaxed) {
                // whatever the service made of the failed body
                let mut response = Response::new(B::from("the request body came too slowly\n"));
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                response.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
                response
            } else {
                match answered {
                    Some(Ok(response)) => response?,
                    Some(Err(_)) | None => {
                        let mut response = Response::new(B::from("the request took too long\n"));
                        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        response
                    }
                }
            };
            // busy until the answer's body has been sent (or dropped)
            Ok(response.map(|body| Counted { body, _busy: busy }))
        })
    }
}

/// The minimum body rate of [`Limits`].
#[derive(Clone, Copy, Debug)]
struct Pace {
    min_rate: u32,
    grace: Duration,
}

pin_project_lite::pin_project! {
    /// A request's body as a [`serve`]d service reads it: hyper's, cut off with
    /// [`BodyTooSlow`] when it arrives slower than [`Limits::min_body_rate`].
    pub struct RequestBody {
        #[pin]
        inner: Incoming,
        pace: Option<Paced>,
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").finish_non_exhaustive()
    }
}

/// The error of a [`RequestBody`] cut off because it arrived too slowly; the server answers
/// the request `408` and closes the connection.
#[derive(Debug)]
#[non_exhaustive]
pub struct BodyTooSlow;

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body came too slowly")
    }
}

impl std::error::Error for BodyTooSlow {}

/// How long the service has waited for a body and how much of it came.
#[derive(Debug)]
struct Paced {
    pace: Pace,
    entry: Arc<Entry>,
    received: u64,
    /// Time spent waiting, not counting the wait in progress.
    waited: Duration,
    /// When the wait in progress began (the body had nothing to give).
    waiting_since: Option<tokio::time::Instant>,
    /// Wakes the wait in progress when the body would fall below the rate.
    alarm: Option<Pin<Box<tokio::time::Sleep>>>,
    cut: bool,
}

impl Paced {
    fn new(pace: Pace, entry: Arc<Entry>) -> Paced {
        Paced {
            pace,
            entry,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            alarm: None,
            cut: false,
        }
    }

    /// How long the service may wait in all for the bytes received so far.
    fn allowed(&self) -> Duration {
        let earned = Duration::from_secs_f64(self.received as f64 / f64::from(self.pace.min_rate));
        earned.max(self.pace.grace)
    }

    /// The body has nothing to give now: `Ready` when it is too late for more.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = tokio::time::Instant::now();
        let since = *self.waiting_since.get_or_insert(now);
        let waited = self.waited + now.saturating_duration_since(since);
        let allowed = self.allowed();
        if waited >= allowed {
            return Poll::Ready(());
        }
        let deadline = now + (allowed - waited);
        let alarm = self
            .alarm
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if alarm.deadline() != deadline {
            alarm.as_mut().reset(deadline);
        }
        alarm.as_mut().poll(cx)
    }

    /// The body gave something (`bytes` of data).
    fn moved(&mut self, bytes: usize) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
        }
        self.received = self.received.saturating_add(bytes as u64);
    }

    fn cut_off(&mut self) -> BoxError {
        self.cut = true;
        self.entry.body_cut.store(true, Ordering::Relaxed);
        self.entry.body_cut_notify.notify_waiters();
        Box::new(BodyTooSlow)
    }
}

impl Body for RequestBody {
    type Data = hyper::body::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(paced) = this.pace.as_mut() else {
            return this.inner.poll_frame(cx).map_err(Into::into);
        };
        if paced.cut {
            return Poll::Ready(Some(Err(Box::new(BodyTooSlow))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Pending => match paced.wait(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(paced.cut_off()))),
                Poll::Pending => Poll::Pending,
            },
            Poll::Ready(frame) => {
                let bytes = match &frame {
                    Some(Ok(frame)) => frame.data_ref().map_or(0, |data| data.len()),
                    _ => 0,
                };
                paced.moved(bytes);
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request in progress on a connection, for as long as it lives.
struct Busy(Arc<Entry>);

impl Busy {
    fn new(entry: Arc<Entry>) -> Busy {
        entry.busy.fetch_add(1, Ordering::AcqRel);
        entry.sent_request.store(true, Ordering::Relaxed);
        entry
            .last_active
            .store(entry.writes.clock.now(), Ordering::Relaxed);
        Busy(entry)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0
            .last_active
            .store(self.0.writes.clock.now(), Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
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

    /// Answers `200` with the length of the body, read whole after `delay`.
    fn reading_after(
        delay: Duration,
    ) -> impl HttpService<Body = http_body_util::Full<hyper::body::Bytes>> {
        use http_body_util::BodyExt as _;
        hyper::service::service_fn(move |request: Request<RequestBody>| async move {
            tokio::time::sleep(delay).await;
            let answer = match request.into_body().collect().await {
                Ok(body) => format!("{} bytes", body.to_bytes().len()),
                Err(error) => format!("failed: {error}"),
            };
            Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::from(answer)))
        })
    }

    /// Sends a POST head announcing `length` bytes, then `chunk` bytes every `every` until
    /// `length` are sent or the server stops taking them; returns the answer (empty when
    /// the connection was closed without one).
    fn upload(
        address: std::net::SocketAddr,
        length: usize,
        chunk: usize,
        every: Duration,
    ) -> std::thread::JoinHandle<String> {
        use std::io::{Read, Write};
        std::thread::spawn(move || {
            let Ok(mut client) = std::net::TcpStream::connect(address) else {
                return String::new();
            };
            let mut writer = client.try_clone().unwrap();
            let sender = std::thread::spawn(move || {
                let head = format!(
                    "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n"
                );
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let mut sent = 0;
                while sent < length {
                    let n = chunk.min(length - sent);
                    if writer.write_all(&vec![b'x'; n]).is_err() {
                        return;
                    }
                    sent += n;
                    std::thread::sleep(every);
                }
            });
            client
                .set_read_timeout(Some(Duration::from_secs(15)))
                .unwrap();
            let mut answer = Vec::new();
            let _ = client.read_to_end(&mut answer);
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = sender.join();
            String::from_utf8_lossy(&answer).into_owned()
        })
    }

    fn body_limits() -> Limits {
        Limits {
            min_body_rate: 1000,
            body_grace: Duration::from_millis(300),
            ..Limits::default()
        }
    }

    /// As many slow uploads as the connection cap are cut off with 408 once the grace has
    /// passed, and the server answers other clients again within seconds, long before the
    /// 30 s request deadline would have freed the connections.
    #[test]
    fn slow_uploads_at_the_cap_are_cut_off_and_the_server_answers_again() {
        use std::io::{Read, Write};
        let address = serving(
            reading_after(Duration::ZERO),
            Limits {
                max_connections: 2,
                ..body_limits()
            },
        );
        // 100 bytes a second against a minimum of 1,000
        let slow = [0, 1].map(|_| upload(address, 100_000, 10, Duration::from_millis(100)));
        std::thread::sleep(Duration::from_millis(100));
        let started = std::time::Instant::now();
        let answered = loop {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no answer while the slow uploads held the connections"
            );
            let mut client = std::net::TcpStream::connect(address).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ = client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = client.read_to_string(&mut answer);
            if !answer.is_empty() {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered:?}");
        assert!(answered.ends_with("0 bytes"), "{answered:?}");
        for upload in slow {
            let answer = upload.join().unwrap();
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
            assert!(answer.contains("connection: close"), "{answer:?}");
        }
    }

    /// Only the time the service waits for the body counts: a body sent at once to a
    /// service that reads it after the grace, and a body that keeps above the minimum rate
    /// for longer than the grace, are both read whole.
    #[test]
    fn bodies_that_keep_the_rate_are_read_whole() {
        let late_reader = serving(reading_after(Duration::from_secs(1)), body_limits());
        let at_once = upload(late_reader, 4096, 4096, Duration::ZERO)
            .join()
            .unwrap();
        assert!(at_once.starts_with("HTTP/1.1 200"), "{at_once:?}");
        assert!(at_once.ends_with("4096 bytes"), "{at_once:?}");

        let reader = serving(reading_after(Duration::ZERO), body_limits());
        // 5,000 bytes a second for a second, against a minimum of 1,000 after 300 ms
        let steady = upload(reader, 5000, 500, Duration::from_millis(100))
            .join()
            .unwrap();
        assert!(steady.starts_with("HTTP/1.1 200"), "{steady:?}");
        assert!(steady.ends_with("5000 bytes"), "{steady:?}");
    }

    /// The ids of the open connections, in accept order.
    fn ids(table: &Table) -> Vec<usize> {
        crate::sync::lock(&table.open).keys().copied().collect()
    }

    #[test]
    fn at_the_cap_an_idle_connection_makes_room() {
        let table = Arc::new(Table::new(3));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let third = table.admit().unwrap();
        // the oldest is in a request: the next oldest goes
        let _request = Busy::new(first.entry.clone());
        let fourth = table.admit().expect("room made");
        assert_eq!(ids(&table), [first.id, third.id, fourth.id]);
        // every one busy (one of them still writing its answer to a slow reader): refused
        let _busy = Busy::new(third.entry.clone());
        fourth.entry.writes.blocked();
        assert!(table.admit().is_none());
        drop(second);
        drop(first);
        assert!(
            table.admit().is_some(),
            "a closed connection frees its place"
        );
    }

    /// Among idle connections, one that never sent a request goes first, then the least
    /// recently active; not simply the oldest (a proxy's pooled connections are the oldest).
    #[test]
    fn eviction_prefers_connections_without_a_request_then_the_least_recently_active() {
        let table = Arc::new(Table::new(3));
        let pooled = table.admit().unwrap();
        let recent = table.admit().unwrap();
        let silent = table.admit().unwrap();
        drop(Busy::new(pooled.entry.clone()));
        std::thread::sleep(Duration::from_millis(5));
        drop(Busy::new(recent.entry.clone()));
        let fourth = table.admit().unwrap();
        assert_eq!(
            ids(&table),
            [pooled.id, recent.id, fourth.id],
            "the one that never sent a request"
        );
        drop(Busy::new(fourth.entry.clone()));
        let _fifth = table.admit().unwrap();
        assert!(
            !ids(&table).contains(&pooled.id),
            "then the least recently active: {:?}",
            ids(&table)
        );
        drop(silent);
    }
}
