//! The `/metrics` endpoint: the Prometheus exporter's registry in the text format (or in
//! OpenMetrics text when the scraper asks for it: [`super::openmetrics`]), served by
//! the bounded server of [`crate::server`] on a small runtime of its own (one thread), so no
//! client can delay another's scrape.
//!
//! Every client is bounded:
//!
//! | what | bound |
//! |---|---|
//! | connections open at once | [`MAX_CONNECTIONS`]; at the cap an idle connection is closed to make room, one that never sent a request first, then the least recently active (so reconnecting slow clients cannot lock scrapers out), and a new one is closed at once only when all are being answered |
//! | sending a request head (also between keep-alive requests) | [`HEAD_TIMEOUT`], then the connection is closed |
//! | request head size | [`MAX_HEAD`] bytes (larger: 431) |
//! | one connection's lifetime | [`CONNECTION_LIFETIME`], then it is closed once the answer in progress is written |
//! | writing an answer to a scraper that does not read | [`WRITE_TIMEOUT`] without progress, then the connection is closed |
//! | answers encoded at once | [`MAX_ENCODERS`] (the others wait their turn; a turn is held until its encode finishes, also when the request timed out) |
//!
//! HTTP/1.0 and 1.1 with keep-alive and pipelining, absolute-form targets
//! (`GET http://host/metrics`), `HEAD`, and gzip when the scraper asks for it
//! (`Accept-Encoding: gzip`) are handled by hyper.

use std::convert::Infallible;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::sync::{Semaphore, watch};

use super::problem::SetupProblem;
use crate::server::Limits;

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 256;
/// How long a client has to send a whole request head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest request head.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// How long one connection is kept; an answer in progress then is still written.
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// How long writing an answer may make no progress.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// From a request's head to its answer (waiting for an encoder included).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers gathered and encoded at once (each holds the whole text in memory).
pub(crate) const MAX_ENCODERS: usize = 2;

/// A running `/metrics` server; stopped by [`PrometheusServer::stop`] or on drop.
#[derive(Debug)]
pub(crate) struct PrometheusServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl PrometheusServer {
    /// Binds `host:port` and serves `registry` at `/metrics`.
    pub fn serve(host: &str, port: u16, registry: Registry) -> Result<Self, SetupProblem> {
        let bind_problem = |why: String| {
            SetupProblem::new(
                format!("the /metrics server on {host}:{port}"),
                format!(
                    "cannot listen: {why} (choose another address with \
                     OTEL_EXPORTER_PROMETHEUS_HOST / OTEL_EXPORTER_PROMETHEUS_PORT or \
                     backend.telemetry.metrics.prometheus.host / .port)"
                ),
                "metrics for Prometheus are off",
            )
        };
        let addresses: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| bind_problem(format!("the host does not resolve ({})", e.kind())))?
            .collect();
        let listener =
            TcpListener::bind(&addresses[..]).map_err(|e| bind_problem(e.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|e| bind_problem(e.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| bind_problem(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(MAX_ENCODERS)
            .build()
            .map_err(|e| bind_problem(e.to_string()))?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("backstage-prometheus".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, registry, stopped));
                // Connections still open are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(|e| bind_problem(e.to_string()))?;
        // its OpenMetrics answers carry the span metrics' exemplars
        crate::tracing::exemplars::reader(true);
        Ok(PrometheusServer {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes every connection and waits for the thread (at most
    /// `timeout`; past that the thread ends on its own).
    pub fn stop(&mut self, timeout: Duration) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        crate::tracing::exemplars::reader(false);
        let _ = self.stop.send(true);
        let deadline = std::time::Instant::now() + timeout;
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

async fn serve(listener: TcpListener, registry: Registry, mut stopped: watch::Receiver<bool>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let encoders = Arc::new(Semaphore::new(MAX_ENCODERS));
    let service = service_fn(move |request| {
        let registry = registry.clone();
        let encoders = encoders.clone();
        async move { Ok::<_, Infallible>(answer(&request, registry, &encoders).await) }
    });
    let limits = Limits {
        max_connections: MAX_CONNECTIONS,
        head_timeout: HEAD_TIMEOUT,
        max_head_bytes: MAX_HEAD,
        request_timeout: REQUEST_TIMEOUT,
        connection_lifetime: CONNECTION_LIFETIME,
        write_timeout: WRITE_TIMEOUT,
        shutdown_grace: Duration::from_millis(100),
        ..Limits::default()
    };
    crate::server::serve(listener, service, limits, async move {
        let _ = stopped.changed().await;
    })
    .await;
}

async fn answer(
    request: &Request<crate::server::RequestBody>,
    registry: Registry,
    encoders: &Arc<Semaphore>,
) -> Response<Full<Bytes>> {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "metrics are at /metrics\n");
    }
    let gzip = accepts_gzip(request.headers());
    let openmetrics = super::openmetrics::preferred(
        request
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    match with_turn(encoders, move || encode(&registry, openmetrics, gzip)).await {
        Err(Closed) => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        Ok(Some(body)) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            let headers = response.headers_mut();
            let content_type = if openmetrics {
                super::openmetrics::CONTENT_TYPE
            } else {
                "text/plain; version=0.0.4; charset=utf-8"
            };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::VARY,
                HeaderValue::from_static("accept, accept-encoding"),
            );
            if gzip {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
    }
}

/// The encoders' semaphore is closed: the server is stopping.
struct Closed;

/// Runs `work` on a blocking thread once one of the `encoders` turns is free, and holds the
/// turn until `work` is done: also when the answer is no longer awaited (its request timed
/// out, its client left), so at most [`MAX_ENCODERS`] encodes ever run at once. `None` when
/// `work` panicked.
async fn with_turn<T: Send + 'static>(
    encoders: &Arc<Semaphore>,
    work: impl FnOnce() -> Option<T> + Send + 'static,
) -> Result<Option<T>, Closed> {
    let turn = encoders.clone().acquire_owned().await.map_err(|_| Closed)?;
    let done = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    });
    Ok(done.await.ok().flatten())
}

/// The registry in the OpenMetrics text format or else the Prometheus one, gzipped if asked.
fn encode(registry: &Registry, openmetrics: bool, gzip: bool) -> Option<Vec<u8>> {
    let text = if openmetrics {
        super::openmetrics::encode(registry.gather())
            .ok()?
            .into_bytes()
    } else {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut text)
            .ok()?;
        text
    };
    if !gzip {
        return Some(text);
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(&text).ok()?;
    encoder.finish().ok()
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*`, with a non-zero weight).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let weight = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encode whose answer is no longer awaited keeps its turn until it finishes.
    #[test]
    fn a_turn_is_held_until_the_encode_finishes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let encoders = Arc::new(Semaphore::new(1));
            let (finish, finished) = std::sync::mpsc::channel::<()>();
            let waiting = with_turn(&encoders, move || finished.recv().ok());
            // the request times out while its encode runs
            let timed_out = tokio::time::timeout(Duration::from_millis(50), waiting).await;
            assert!(timed_out.is_err());
            assert_eq!(encoders.available_permits(), 0, "the encode still runs");
            finish.send(()).unwrap();
            let freed = tokio::time::timeout(Duration::from_secs(10), async {
                while encoders.available_permits() == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
            assert!(freed.is_ok(), "the turn came back when the encode finished");
        });
    }

    #[test]
    fn gzip_when_the_client_allows_it() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
            accepts_gzip(&headers)
        };
        assert!(with("gzip"));
        assert!(with("GZIP"));
        assert!(with("deflate, gzip;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!with("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
