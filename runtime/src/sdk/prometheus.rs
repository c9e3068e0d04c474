//! The `/metrics` endpoint: the Prometheus exporter's registry, served in the text format
//! by a small HTTP/1.1 server on its own thread (one request per connection, bounded reads,
//! timeouts), so no async runtime is needed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::{Encoder, Registry, TextEncoder};

use super::InitError;

/// Longest request head read before answering 431.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request or read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `/metrics` server; stopped by [`PrometheusServer::stop`] or on drop.
#[derive(Debug)]
pub(crate) struct PrometheusServer {
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PrometheusServer {
    /// Binds `host:port` and serves `registry` at `/metrics`.
    pub fn start(host: &str, port: u16, registry: Registry) -> Result<Self, InitError> {
        let bind_error = |source: io::Error| InitError::PrometheusBind {
            address: format!("{host}:{port}"),
            source,
        };
        let addresses: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(bind_error)?
            .collect();
        let listener = TcpListener::bind(&addresses[..]).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("backstage-prometheus".to_owned())
            .spawn({
                let stopping = stopping.clone();
                move || serve(&listener, &registry, &stopping)
            })
            .map_err(bind_error)?;
        Ok(PrometheusServer {
            address,
            stopping,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting and waits for the thread.
    pub fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; if connecting fails the listener is gone anyway.
        let _ = TcpStream::connect_timeout(&wake_address(self.address), Duration::from_secs(1));
        let _ = thread.join();
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach a listener bound to `address` (an unspecified address is
/// reached through loopback).
fn wake_address(address: SocketAddr) -> SocketAddr {
    let mut wake = address;
    if wake.ip().is_unspecified() {
        wake.set_ip(match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    wake
}

fn serve(listener: &TcpListener, registry: &Registry, stopping: &AtomicBool) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            // A client that misbehaves only loses its own answer.
            Ok(stream) => {
                let _ = answer(stream, registry);
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Reads one request and answers it.
fn answer(mut stream: TcpStream, registry: &Registry) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
                true,
            );
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let request_line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let request_line = String::from_utf8_lossy(request_line);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let mut body = Vec::new();
            let encoder = TextEncoder::new();
            if encoder.encode(&registry.gather(), &mut body).is_err() {
                return respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    b"encoding failed\n",
                    true,
                );
            }
            respond(
                &mut stream,
                "200 OK",
                encoder.format_type(),
                &body,
                method == "GET",
            )
        }
        ("GET" | "HEAD", _) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"metrics are at /metrics\n",
            method == "GET",
        ),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"",
            true,
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}
