//! Outbound HTTP calls in a client span, with the trace context sent along (feature
//! `http-client`; `reqwest` adds [`ReqwestService`]).
//!
//! [`TracedClient`] wraps any HTTP client that is a tower `Service` of `http` requests: every
//! call is a `SpanKind::Client` span of the plugin's [`TracingService`], child of the span
//! active at the call, following the HTTP client semantic conventions:
//!
//! - name: the method (`GET`), or `HTTP` for a method outside the standard ones;
//! - `http.request.method` (`_OTHER` for others, with `http.request.method_original`, at
//!   most 32 bytes), `server.address`, `server.port`, `url.full` without user and password,
//!   without fragment, with **every query value** replaced by `REDACTED` (which parameters
//!   are secrets is the callee's business, so none is guessed), at most 2048 bytes;
//! - the answer's `http.response.status_code` and `network.protocol.version`; from 400 on,
//!   `error.type` is the status code and the span's status is error;
//! - a failed call (the client's `Err`: refused, timed out, …) is recorded as the
//!   [`TracingService`] records any error, with its `error.type`.
//!
//! The configured propagator (`OTEL_PROPAGATORS`: W3C `traceparent`, `tracestate` and
//! `baggage` by default) injects the client span's context into the request headers, so
//! the server's spans join the same trace.
//!
//! ```no_run
//! # #[cfg(feature = "reqwest")]
//! # async fn fetch(base: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use backstage_telemetry::http_client::{ReqwestService, TracedClient};
//! use backstage_telemetry::{Config, RootTracingService};
//!
//! let tracing = RootTracingService::from_config(&Config::default()).for_plugin("scaffolder")?;
//! let catalog = TracedClient::new(ReqwestService::new(reqwest::Client::new()), tracing);
//! let request = http::Request::get(format!("{base}/api/catalog/entities/by-name/template/default/web-app"))
//!     .body(reqwest::Body::from(""))?;
//! let response = catalog.send(request).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The `otlp` feature builds reqwest with rustls and no crypto provider of its own (the
//! OTLP exporters bring theirs), and `reqwest::Client::new()` panics when the process has
//! none: an application whose own reqwest features name no TLS backend installs one first,
//! such as `rustls::crypto::ring::default_provider().install_default()`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::propagation::Injector;
use opentelemetry::trace::SpanKind;
use opentelemetry::{KeyValue, Value};

use crate::tracing::{ActiveSpan, ERROR_TYPE_ATTRIBUTE, InSpan, SpanOptions, TracingService};

/// The longest `url.full` kept, in bytes (cut at a character boundary).
pub const MAX_URL_LENGTH: usize = 2048;
/// The longest `http.request.method_original` kept, in bytes.
pub const MAX_METHOD_LENGTH: usize = 32;

/// An HTTP client whose every call is a client span with the trace context sent along;
/// see the [module docs](self).
///
/// `S` is the client: a tower `Service` of `http::Request<B>` answering
/// `http::Response<R>` (hyper-util's client, [`ReqwestService`], a tower stack of them).
/// Cloning is as cheap as cloning `S`.
#[derive(Clone, Debug)]
pub struct TracedClient<S> {
    inner: S,
    tracing: TracingService,
    /// `http.client.request.duration`, if asked for.
    duration: Option<Histogram<f64>>,
}

impl<S> TracedClient<S> {
    /// Wraps `client`; spans are `tracing`'s (the plugin's tracer and plugin id).
    pub fn new(client: S, tracing: TracingService) -> Self {
        TracedClient {
            inner: client,
            tracing,
            duration: None,
        }
    }

    /// Also records every call in `http.client.request.duration` (seconds; the semantic
    /// conventions' boundaries, 5 ms to 10 s) on `meter`, such as the plugin's
    /// ([`MetricsService::meter`](crate::metrics::MetricsService::meter)), with
    /// `http.request.method`, `server.address`, `server.port`, `http.response.status_code`
    /// and, for a status from 400 or a failed call, `error.type` (as on the span).
    pub fn with_metrics(mut self, meter: &Meter) -> Self {
        self.duration = Some(
            meter
                .f64_histogram("http.client.request.duration")
                .with_description("Duration of HTTP client requests.")
                .with_unit("s")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
        );
        self
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Sends `request` in a client span and resolves to the answer (or the client's
    /// error). Same as `Service::call`, without `poll_ready` (for clients that are always
    /// ready, as both named above are).
    pub fn send<B, R>(&self, request: Request<B>) -> ResponseFuture<S::Future>
    where
        S: tower_service::Service<Request<B>, Response = Response<R>> + Clone,
        S::Error: fmt::Display + 'static,
    {
        let mut inner = self.inner.clone();
        call(&self.tracing, self.duration.as_ref(), &mut inner, request)
    }
}

impl<S, B, R> tower_service::Service<Request<B>> for TracedClient<S>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Error: fmt::Display + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        call(
            &self.tracing,
            self.duration.as_ref(),
            &mut self.inner,
            request,
        )
    }
}

/// Starts the client span, injects its context and calls `inner` in it.
fn call<S, B, R>(
    tracing: &TracingService,
    duration: Option<&Histogram<f64>>,
    inner: &mut S,
    mut request: Request<B>,
) -> ResponseFuture<S::Future>
where
    S: tower_service::Service<Request<B>, Response = Response<R>>,
    S::Error: fmt::Display + 'static,
{
    let (name, attributes) = request_attributes(request.method(), request.uri());
    // the metric's attributes: those of the span but the URL
    let timed = duration.map(|histogram| Timed {
        histogram: histogram.clone(),
        attributes: attributes
            .iter()
            .filter(|kv| {
                kv.key.as_str() != "url.full" && kv.key.as_str() != "http.request.method_original"
            })
            .cloned()
            .collect(),
        started: Instant::now(),
    });
    let options = SpanOptions::new()
        .with_kind(SpanKind::Client)
        .with_attributes(attributes);
    let future = tracing.start_active_span_async(name, options, |span| {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(span.context(), &mut HeaderInjector(request.headers_mut()));
        });
        Answer {
            inner: inner.call(request),
            span,
            timed,
        }
    });
    ResponseFuture { future }
}

pin_project_lite::pin_project! {
    /// The answer of a [`TracedClient`] call, resolving in its span.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ResponseFuture<F>
    where
        F: Future,
        F::Output: answer::Answer,
    {
        #[pin]
        future: InSpan<Answer<F>>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F>
where
    F: Future,
    F::Output: answer::Answer,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future,
    F::Output: answer::Answer,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx)
    }
}

mod answer {
    /// What a client call resolves to: `Result<http::Response<R>, E>` (sealed).
    pub trait Answer: crate::tracing::SpanOutcome {
        /// Notes the answer on the span, if it is one.
        fn note(&self, span: &super::ActiveSpan);

        /// The answer's status code, or the call's `error.type`.
        fn outcome(&self) -> Result<u16, std::borrow::Cow<'static, str>>;
    }

    impl<R, E: std::fmt::Display + 'static> Answer for Result<http::Response<R>, E> {
        fn note(&self, span: &super::ActiveSpan) {
            if let Ok(response) = self {
                super::record_response(span, response.status().as_u16(), response.version());
            }
        }

        fn outcome(&self) -> Result<u16, std::borrow::Cow<'static, str>> {
            match self {
                Ok(response) => Ok(response.status().as_u16()),
                Err(error) => Err(crate::tracing::error_type::of_value(error)),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The client's future, noting the answer's status on the span.
    struct Answer<F> {
        #[pin]
        inner: F,
        span: ActiveSpan,
        timed: Option<Timed>,
    }
}

impl<F> Future for Answer<F>
where
    F: Future,
    F::Output: answer::Answer,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        answer::Answer::note(&output, this.span);
        if let Some(timed) = this.timed.take() {
            timed.record(answer::Answer::outcome(&output));
        }
        Poll::Ready(output)
    }
}

/// A call's start, for `http.client.request.duration`.
struct Timed {
    histogram: Histogram<f64>,
    attributes: Vec<KeyValue>,
    started: Instant,
}

impl Timed {
    fn record(mut self, outcome: Result<u16, Cow<'static, str>>) {
        match outcome {
            Ok(status) => {
                self.attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    self.attributes
                        .push(KeyValue::new(ERROR_TYPE_ATTRIBUTE, status.to_string()));
                }
            }
            Err(error_type) => self
                .attributes
                .push(KeyValue::new(ERROR_TYPE_ATTRIBUTE, error_type)),
        }
        self.histogram
            .record(self.started.elapsed().as_secs_f64(), &self.attributes);
    }
}

/// `http.client.request.duration`'s boundaries, as the semantic conventions advise.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Notes the answer's status and protocol; from 400 on, an error (for a client, 4xx is one).
fn record_response(span: &ActiveSpan, status: u16, version: Version) {
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if let Some(version) = protocol_version(version) {
        span.set_attribute(KeyValue::new("network.protocol.version", version));
    }
    if status >= 400 {
        span.set_attribute(KeyValue::new(ERROR_TYPE_ATTRIBUTE, status.to_string()));
        // the semantic conventions: no description when the status code says it all
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}

fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// The span name and the attributes known before the call.
fn request_attributes(method: &Method, uri: &Uri) -> (Cow<'static, str>, Vec<KeyValue>) {
    let mut attributes = Vec::with_capacity(5);
    let name = match known_method(method) {
        Some(known) => {
            attributes.push(KeyValue::new("http.request.method", known));
            Cow::Borrowed(known)
        }
        None => {
            attributes.push(KeyValue::new("http.request.method", "_OTHER"));
            attributes.push(KeyValue::new(
                "http.request.method_original",
                cut(method.as_str(), MAX_METHOD_LENGTH).to_owned(),
            ));
            Cow::Borrowed("HTTP")
        }
    };
    if let Some(host) = uri.host() {
        attributes.push(KeyValue::new(
            "server.address",
            cut(host, MAX_URL_LENGTH).to_owned(),
        ));
    }
    let port = uri.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    if let Some(port) = port {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    attributes.push(KeyValue::new("url.full", Value::from(full_url(uri))));
    (name, attributes)
}

/// The nine methods of RFC 9110 and PATCH, as the semantic conventions list them.
fn known_method(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return None,
    })
}

/// `uri` as `url.full`: no user or password (an `http::Uri` keeps them in its authority),
/// no fragment, every query value `REDACTED`, at most [`MAX_URL_LENGTH`] bytes.
fn full_url(uri: &Uri) -> String {
    let mut url = String::new();
    if let Some(scheme) = uri.scheme_str() {
        url.push_str(scheme);
        url.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host_port)| host_port);
        url.push_str(host_port);
    }
    url.push_str(uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                url.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) => {
                    url.push_str(name);
                    url.push_str("=REDACTED");
                }
                None => url.push_str(pair),
            }
        }
    }
    let kept = cut(&url, MAX_URL_LENGTH).len();
    url.truncate(kept);
    url
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Puts the propagator's fields into the request headers (a field that is not a valid
/// header is left out).
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// A `reqwest::Client` as a tower `Service` of `http` requests, for [`TracedClient`].
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[derive(Clone, Debug)]
pub struct ReqwestService {
    client: reqwest::Client,
}

#[cfg(feature = "reqwest")]
impl ReqwestService {
    /// Wraps `client`.
    pub fn new(client: reqwest::Client) -> Self {
        ReqwestService { client }
    }
}

#[cfg(feature = "reqwest")]
impl<B: Into<reqwest::Body>> tower_service::Service<Request<B>> for ReqwestService {
    type Response = Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let client = self.client.clone();
        let request = reqwest::Request::try_from(request);
        Box::pin(async move { Ok(client.execute(request?).await?.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(uri: &str) -> String {
        full_url(&uri.parse().unwrap())
    }

    #[test]
    fn url_full_has_no_credentials_fragment_or_query_values() {
        assert_eq!(
            url(
                "http://robot:pw@catalog.internal:7007/api/entities?filter=kind%3Dtemplate&token=abc&flag"
            ),
            "http://catalog.internal:7007/api/entities?filter=REDACTED&token=REDACTED&flag"
        );
        assert_eq!(url("https://example.com"), "https://example.com/");
        let long = format!("http://h/{}é", "a".repeat(MAX_URL_LENGTH));
        let kept = url(&long);
        assert!(kept.len() <= MAX_URL_LENGTH && kept.starts_with("http://h/aaa"));
    }

    #[test]
    fn methods_outside_the_standard_ones_are_other() {
        let uri: Uri = "http://catalog:7007/x".parse().unwrap();
        let (name, attributes) = request_attributes(&Method::GET, &uri);
        assert_eq!(name, "GET");
        assert!(attributes.contains(&KeyValue::new("server.port", 7007)));
        let purge = Method::from_bytes(b"PURGE").unwrap();
        let (name, attributes) = request_attributes(&purge, &"https://c/".parse().unwrap());
        assert_eq!(name, "HTTP");
        assert!(attributes.contains(&KeyValue::new("http.request.method", "_OTHER")));
        assert!(attributes.contains(&KeyValue::new("http.request.method_original", "PURGE")));
        assert!(attributes.contains(&KeyValue::new("server.port", 443)));
        let long = Method::from_bytes("X".repeat(100).as_bytes()).unwrap();
        let (_, attributes) = request_attributes(&long, &uri);
        assert!(attributes.contains(&KeyValue::new(
            "http.request.method_original",
            "X".repeat(MAX_METHOD_LENGTH)
        )));
    }
}
