//! The HTTP server metrics of the semantic conventions, recorded for every request however it
//! ends: `http.server.request.duration` (with `error.type` on every 5xx, the status code as
//! the conventions ask), `http.server.active_requests`, and the request and response body
//! sizes.
//!
//! `opentelemetry-instrumentation-tower` records them only when the response future
//! completes: a request whose future is dropped (the client went away, the connection was
//! cut) was never recorded and stayed in `http.server.active_requests` for good. Here the
//! request is recorded by a guard that the future owns: on the answer, or when the future is
//! dropped before it (`error.type = "cancelled"`, no status code), and the active count is
//! given back exactly once either way. The request deadline is applied inside this layer
//! (`tower_http::timeout`), so a request past it is answered, and recorded, as `503`.
//! A request whose body the server cut off for arriving too slowly
//! (`backstage_telemetry::server::BodyTooSlow`) is recorded as the server answers it, `408`,
//! whatever the handler made of the failed body.
//!
//! Each attribute set is bound once, at its first request (`bind`), and its series kept by
//! a small key (the scheme, method, protocol version, route and status): a request then
//! records into its series without the SDK hashing its attribute set for every
//! measurement, which was most of what telemetry cost a request with the defaults
//! (BENCHMARKS.md, "The cost per request"). At most [`MAX_BOUND_SETS`] sets are bound;
//! beyond, measurements are recorded with their attributes as before.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, Version};
use axum::response::Response;
use backstage_telemetry::server::BodyTooSlow;
use http_body::Body as _;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, BoundUpDownCounter, Histogram, Meter, UpDownCounter};

/// The scope the HTTP server metrics are exported from.
pub const METER_NAME: &str = "backend-http-server";

/// `error.type` of a request whose answer was never given: its future was dropped.
pub const CANCELLED: &str = "cancelled";

/// The HTTP request duration boundaries of the semantic conventions, in seconds.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The most attribute sets bound (routes, methods and status codes are bounded, so a
/// service stays far below it).
pub const MAX_BOUND_SETS: usize = 1024;

struct Instruments {
    duration: Histogram<f64>,
    active: UpDownCounter<i64>,
    request_size: Histogram<u64>,
    response_size: Histogram<u64>,
    /// The series of each attribute set of the records, bound at its first request.
    bound: RwLock<HashMap<SeriesKey, Arc<Series>>>,
    /// The active count's series, by scheme and method.
    bound_active: RwLock<HashMap<(&'static str, &'static str), BoundUpDownCounter<i64>>>,
}

/// What a record's attribute set is made from.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct SeriesKey {
    scheme: &'static str,
    method: &'static str,
    version: &'static str,
    route: Option<String>,
    /// `None`: the request was cancelled (no answer).
    status: Option<StatusCode>,
}

impl SeriesKey {
    /// The attributes of the records: `url.scheme`, `http.request.method`, the protocol,
    /// the route, the status code, and `error.type` on a 5xx or a cancelled request.
    fn attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(7);
        attributes.push(KeyValue::new("url.scheme", self.scheme));
        attributes.push(KeyValue::new("http.request.method", self.method));
        attributes.push(KeyValue::new("network.protocol.name", "http"));
        attributes.push(KeyValue::new("network.protocol.version", self.version));
        if let Some(route) = &self.route {
            attributes.push(KeyValue::new("http.route", route.clone()));
        }
        match self.status {
            Some(status) => {
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if status.is_server_error() {
                    attributes.push(KeyValue::new("error.type", status.as_str().to_owned()));
                }
            }
            None => attributes.push(KeyValue::new("error.type", CANCELLED)),
        }
        attributes
    }
}

/// The series of one attribute set.
struct Series {
    duration: BoundHistogram<f64>,
    request_size: BoundHistogram<u64>,
    response_size: BoundHistogram<u64>,
}

impl Instruments {
    /// The series of `key`, bound at its first use; `None` once [`MAX_BOUND_SETS`] are.
    fn series(&self, key: &SeriesKey) -> Option<Arc<Series>> {
        let read = self.bound.read().unwrap_or_else(|p| p.into_inner());
        if let Some(series) = read.get(key) {
            return Some(series.clone());
        }
        drop(read);
        let mut bound = self.bound.write().unwrap_or_else(|p| p.into_inner());
        if bound.len() >= MAX_BOUND_SETS {
            return bound.get(key).cloned();
        }
        let series = bound.entry(key.clone()).or_insert_with(|| {
            let attributes = key.attributes();
            Arc::new(Series {
                duration: self.duration.bind(&attributes),
                request_size: self.request_size.bind(&attributes),
                response_size: self.response_size.bind(&attributes),
            })
        });
        Some(series.clone())
    }

    /// The active count's series for `scheme` and `method`, bound at its first use.
    fn active(&self, scheme: &'static str, method: &'static str) -> BoundUpDownCounter<i64> {
        let read = self.bound_active.read().unwrap_or_else(|p| p.into_inner());
        if let Some(series) = read.get(&(scheme, method)) {
            return series.clone();
        }
        drop(read);
        let mut bound = self.bound_active.write().unwrap_or_else(|p| p.into_inner());
        bound
            .entry((scheme, method))
            .or_insert_with(|| {
                self.active.bind(&[
                    KeyValue::new("url.scheme", scheme),
                    KeyValue::new("http.request.method", method),
                ])
            })
            .clone()
    }
}

/// Records every request of the service it wraps (see the module documentation).
#[derive(Clone)]
pub struct HttpMetricsLayer {
    instruments: Arc<Instruments>,
}

impl HttpMetricsLayer {
    /// The instruments, made from `meter`.
    pub fn new(meter: &Meter) -> Self {
        HttpMetricsLayer {
            instruments: Arc::new(Instruments {
                duration: meter
                    .f64_histogram("http.server.request.duration")
                    .with_description("Duration of HTTP server requests.")
                    .with_unit("s")
                    .with_boundaries(DURATION_BOUNDARIES.to_vec())
                    .build(),
                active: meter
                    .i64_up_down_counter("http.server.active_requests")
                    .with_description("Number of active HTTP server requests.")
                    .with_unit("{request}")
                    .build(),
                request_size: meter
                    .u64_histogram("http.server.request.body.size")
                    .with_description("Size of HTTP server request bodies.")
                    .with_unit("By")
                    .build(),
                response_size: meter
                    .u64_histogram("http.server.response.body.size")
                    .with_description("Size of HTTP server response bodies.")
                    .with_unit("By")
                    .build(),
                bound: RwLock::default(),
                bound_active: RwLock::default(),
            }),
        }
    }
}

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            instruments: self.instruments.clone(),
        }
    }
}

/// The service of [`HttpMetricsLayer`].
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    instruments: Arc<Instruments>,
}

impl<S> tower::Service<Request> for HttpMetrics<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let mut guard = InFlight::start(self.instruments.clone(), &request);
        // a body the server may cut off for arriving too slowly: the answer is then 408
        // (the server's), whatever the handler made of the failed body
        let request = if request.body().is_end_stream() {
            request
        } else {
            let too_slow = Arc::new(AtomicBool::new(false));
            guard.body_too_slow = Some(too_slow.clone());
            request.map(|body| axum::body::Body::new(NotingTooSlow { body, too_slow }))
        };
        Recorded {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

/// A request in flight: recorded, and counted out of `http.server.active_requests`, once,
/// by [`InFlight::finish`] or when dropped unfinished.
struct InFlight {
    instruments: Arc<Instruments>,
    start: Instant,
    /// The active count's series (`url.scheme` and `http.request.method`).
    active: BoundUpDownCounter<i64>,
    /// What every record's attributes are made from; its status is set at the answer.
    key: SeriesKey,
    request_size: Option<u64>,
    /// Whether the answer was recorded.
    answered: bool,
    /// Set when the server cut the request's body off for arriving too slowly.
    body_too_slow: Option<Arc<AtomicBool>>,
}

impl InFlight {
    fn start(instruments: Arc<Instruments>, request: &Request) -> Self {
        let scheme = scheme(request);
        let method = standard_method(request.method()).unwrap_or("_OTHER");
        let active = instruments.active(scheme, method);
        active.add(1);
        let key = SeriesKey {
            scheme,
            method,
            version: protocol_version(request.version()),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map(|route| route.as_str().to_owned()),
            status: None,
        };
        InFlight {
            instruments,
            start: Instant::now(),
            active,
            key,
            request_size: request.body().size_hint().exact(),
            answered: false,
            body_too_slow: None,
        }
    }

    /// Records the answer.
    fn finish(mut self, response: &Response) {
        self.answered = true;
        let too_slow = self
            .body_too_slow
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed));
        let status = if too_slow {
            StatusCode::REQUEST_TIMEOUT
        } else {
            response.status()
        };
        self.key.status = Some(status);
        self.record(response.body().size_hint().exact());
    }

    /// Records the duration and the body sizes known (a response's: `response_size`) in
    /// the series of the request's attribute set.
    fn record(&self, response_size: Option<u64>) {
        let seconds = self.start.elapsed().as_secs_f64();
        let instruments = &self.instruments;
        if let Some(series) = instruments.series(&self.key) {
            series.duration.record(seconds);
            if let Some(size) = self.request_size {
                series.request_size.record(size);
            }
            if let Some(size) = response_size {
                series.response_size.record(size);
            }
            return;
        }
        let attributes = self.key.attributes();
        instruments.duration.record(seconds, &attributes);
        if let Some(size) = self.request_size {
            instruments.request_size.record(size, &attributes);
        }
        if let Some(size) = response_size {
            instruments.response_size.record(size, &attributes);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.answered {
            self.key.status = None;
            self.record(None);
        }
        self.active.add(-1);
    }
}

pin_project_lite::pin_project! {
    /// The future of [`HttpMetrics`]: the inner one, and the request's [`InFlight`].
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(guard)) = (&output, this.guard.take()) {
            guard.finish(response);
        }
        Poll::Ready(output)
    }
}

pin_project_lite::pin_project! {
    /// A request body noting whether it failed with the server's [`BodyTooSlow`].
    struct NotingTooSlow {
        #[pin]
        body: axum::body::Body,
        too_slow: Arc<AtomicBool>,
    }
}

impl http_body::Body for NotingTooSlow {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if let Some(Err(error)) = &frame {
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
            while let Some(error) = cause {
                if error.is::<BodyTooSlow>() {
                    this.too_slow.store(true, Ordering::Relaxed);
                }
                cause = error.source();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `url.scheme`, without allocating: `https` or `http`.
fn scheme(request: &Request) -> &'static str {
    match request.uri().scheme_str() {
        Some("https") => "https",
        _ => "http",
    }
}

/// The name of a standard HTTP method, without allocating; `None` for any other (which
/// the HTTP semantic conventions record as `_OTHER`).
pub(crate) fn standard_method(method: &Method) -> Option<&'static str> {
    Some(match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => return None,
    })
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::http::StatusCode;
    use backstage_telemetry::testing::{PointValue, TestMetrics};
    use opentelemetry::metrics::MeterProvider as _;
    use tower::{Layer as _, Service as _};

    use super::*;

    /// A service that answers `status` at once, or never (`None`).
    #[derive(Clone)]
    struct Answers(Option<StatusCode>);

    impl tower::Service<Request> for Answers {
        type Response = Response;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            match self.0 {
                Some(status) => Box::pin(async move {
                    let mut response = Response::default();
                    *response.status_mut() = status;
                    Ok(response)
                }),
                None => Box::pin(std::future::pending()),
            }
        }
    }

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    fn request() -> Request {
        Request::builder()
            .method("POST")
            .uri("http://localhost/api/todos")
            .body(axum::body::Body::from("{}"))
            .unwrap()
    }

    #[test]
    fn a_request_dropped_before_its_answer_is_recorded_as_cancelled_and_counted_out() {
        let metrics = TestMetrics::new();
        let layer = HttpMetricsLayer::new(&metrics.provider().meter(METER_NAME));
        let mut never = layer.layer(Answers(None));
        let mut server_error = layer.layer(Answers(Some(StatusCode::BAD_GATEWAY)));

        let active = [
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.request.method", "POST"),
        ];
        let active_now = || match &metrics
            .collect()
            .metric("http.server.active_requests")
            .point(&active)
            .expect("the active count")
            .value
        {
            PointValue::I64(value) => *value,
            other => panic!("{other:?}"),
        };
        let mut pending = Box::pin(never.call(request()));
        assert!(poll(pending.as_mut()).is_pending());
        assert_eq!(active_now(), 1);
        drop(pending);
        assert_eq!(active_now(), 0);
        let mut answered = Box::pin(server_error.call(request()));
        assert!(poll(answered.as_mut()).is_ready());
        drop(answered);
        assert_eq!(active_now(), 0);

        let exported = metrics.collect();
        let duration = exported.metric("http.server.request.duration");
        let recorded: Vec<(Option<String>, Option<String>, u64)> = duration
            .points
            .iter()
            .map(|point| {
                let PointValue::Histogram { count, .. } = &point.value else {
                    panic!("{point:?}");
                };
                (
                    point.attribute("error.type"),
                    point.attribute("http.response.status_code"),
                    *count,
                )
            })
            .collect();
        assert_eq!(
            recorded.len(),
            2,
            "one series per way of ending: {recorded:?}"
        );
        assert!(
            recorded.contains(&(Some(CANCELLED.to_owned()), None, 1)),
            "{recorded:?}"
        );
        assert!(
            recorded.contains(&(Some("502".to_owned()), Some("502".to_owned()), 1)),
            "{recorded:?}"
        );
    }
}
