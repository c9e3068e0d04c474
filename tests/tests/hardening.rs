//! The export edge under hostile clients and bad settings: the probe application serves
//! `/metrics` while the tests play slow, idle and malformed clients with real sockets, start
//! it with settings an operator got wrong, and shut it down against a collector that never
//! answers. Latencies are printed (the README's reliability figures come from here); the
//! assertions are on answers, contents and bounds, not on speed.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use backstage_telemetry_tests::otlp::Receiver;
use common::probe::{Serving, config_file, run, stdout};

/// Sends `request` on a new connection and reads until the server closes it (or `timeout`).
fn exchange(address: SocketAddr, request: &[u8], timeout: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(request).expect("send");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response
}

/// One ordinary scrape: its status line and how long it took.
fn scrape(address: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    // 5 s is a hang detector, not a speed bound: the answer is expected in milliseconds.
    let response = exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("no answer").to_owned();
    assert!(
        text.contains("backstage_plugin_probe_items_handled_total"),
        "the scrape got no metrics: {status}"
    );
    (status, elapsed)
}

fn serving() -> (Serving, common::probe::tempfile_path::TempPath) {
    let config =
        config_file("backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n");
    let serving = Serving::start(
        &["--config", config.as_str(), "--metrics", "--spans", "3"],
        &[],
    );
    (serving, config)
}

/// Whether the server has closed `stream` (a read sees the end, or a reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    match stream.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn idle_and_trickling_clients_cannot_stall_a_scrape() {
    let (serving, _config) = serving();
    let address = serving.endpoint;
    let (status, quiet) = scrape(address);
    assert_eq!(status, "HTTP/1.1 200 OK");

    // 3 idle connections and one client sending a byte every 300 ms
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let mut trickle = TcpStream::connect(address).unwrap();
    let trickling = std::thread::spawn(move || {
        for byte in b"GET /metrics HTTP/1.1\r\nHost: slow\r\n".iter().take(12) {
            if trickle.write_all(&[*byte]).is_err() {
                return true; // closed by the server: the head deadline
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    });
    std::thread::sleep(Duration::from_millis(200));
    let (status, with_trickle) = scrape(address);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        trickling.join().unwrap(),
        "a client trickling its request head for 3.6 s was not cut off"
    );

    // 200 idle connections
    let mut many: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let (status, with_200_idle) = scrape(address);
    assert_eq!(status, "HTTP/1.1 200 OK");

    // idle connections are closed once the head deadline (2 s) has passed
    std::thread::sleep(Duration::from_millis(2500));
    let mut idle = idle;
    for stream in idle.iter_mut().chain(many.iter_mut().take(5)) {
        assert!(
            closed_by_server(stream),
            "an idle connection was kept past the head deadline"
        );
    }
    eprintln!(
        "scrape latency: quiet {quiet:?}, with 3 idle + 1 trickling {with_trickle:?}, with 200 idle {with_200_idle:?}"
    );
    drop(many);
    serving.stop();
}

#[test]
fn more_connections_than_the_cap_do_not_lock_scrapes_out_for_long() {
    let (serving, _config) = serving();
    let address = serving.endpoint;
    // 400 silent connections: past the cap of 256 new ones are closed at once, and the
    // held ones are closed at the 2 s head deadline, so a scraper gets through soon after.
    let flood: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect(address).ok())
        .collect();
    let started = Instant::now();
    let mut answered = None;
    while started.elapsed() < Duration::from_secs(8) {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        if response.starts_with(b"HTTP/1.1 200") {
            answered = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = answered.expect("no scrape was answered while 400 connections were held open");
    eprintln!("scrape answered {answered:?} after 400 idle connections were opened");
    drop(flood);
    serving.stop();
}

/// 300 slow clients (more than the cap of 256) that each send half a request head and
/// reconnect at once whenever they are cut off: at the cap the oldest connection without a
/// whole request head makes room, so every scrape gets through.
#[test]
fn reconnecting_slow_clients_cannot_lock_scrapers_out() {
    let (serving, _config) = serving();
    let address = serving.endpoint;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let open = |_| {
                let mut stream = TcpStream::connect(address).ok()?;
                stream.write_all(b"GET /metrics HTTP/1.1\r\nHo").ok()?;
                stream.set_nonblocking(true).ok()?;
                Some(stream)
            };
            let mut clients: Vec<Option<TcpStream>> = (0..300).map(open).collect();
            let mut reconnects = 0u64;
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed)
                && started.elapsed() < Duration::from_secs(30)
            {
                for client in clients.iter_mut() {
                    let cut_off = match client {
                        None => true,
                        Some(stream) => match stream.read(&mut [0u8; 64]) {
                            Ok(_) => true,
                            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        },
                    };
                    if cut_off {
                        *client = open(0);
                        reconnects += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            reconnects
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut answered = 0;
    const SCRAPES: usize = 20;
    for _ in 0..SCRAPES {
        let response = exchange(
            address,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        if response.starts_with(b"HTTP/1.1 200") {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reconnects = attacker.join().unwrap();
    eprintln!(
        "{answered} of {SCRAPES} scrapes answered while 300 slow clients reconnected {reconnects} times"
    );
    assert!(
        reconnects > 300,
        "the slow clients were cut off and came back"
    );
    assert_eq!(
        answered, SCRAPES,
        "scrapes locked out by reconnecting slow clients"
    );
    serving.stop();
}

#[test]
fn the_server_speaks_http_as_scrapers_do() {
    let (serving, _config) = serving();
    let address = serving.endpoint;
    let long = Duration::from_secs(5);
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();

    // bare LF line endings
    let answer = text(exchange(
        address,
        b"GET /metrics HTTP/1.1\nHost: x\nConnection: close\n\n",
        long,
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // absolute-form target
    let answer = text(exchange(
        address,
        b"GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        long,
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("backstage_plugin_probe_items_handled_total"));
    // HTTP/1.0 without keep-alive: answered, then closed
    let answer = text(exchange(address, b"GET /metrics HTTP/1.0\r\n\r\n", long));
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    // pipelined requests: both answered, in order
    let answer = text(exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        long,
    ));
    let first = answer.find("HTTP/1.1 200").expect("first answer");
    let second = answer.find("HTTP/1.1 404").expect("second answer");
    assert!(first < second, "{answer}");
    // HEAD: headers only
    let answer = text(exchange(
        address,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        long,
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("backstage_plugin"), "{answer}");
    // other methods
    let answer = text(exchange(
        address,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        long,
    ));
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("allow: get, head"),
        "{answer}"
    );
    // an oversized head
    let mut huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
    huge.extend_from_slice(b"\r\n\r\n");
    let answer = text(exchange(address, &huge, long));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );

    // gzip when asked, and the same text inside
    let plain = text(exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        long,
    ));
    let zipped = exchange(
        address,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
        long,
    );
    let split = zipped.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&zipped[..split]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&zipped[split + 4..])
        .read_to_string(&mut unzipped)
        .expect("a gzip body");
    let body = plain.split_once("\r\n\r\n").unwrap().1;
    let series = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("backstage_plugin_probe_items_handled_total"))
            .map(str::to_owned)
            .collect()
    };
    assert!(!series(body).is_empty());
    assert_eq!(series(&unzipped), series(body));
    serving.stop();
}

#[test]
fn a_bad_setting_turns_off_only_its_own_exporter() {
    const SECRET: &str = "SECRETPASS123";
    // a malformed OTLP endpoint with credentials: traces are off, Prometheus still serves
    let config =
        config_file("backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n");
    let output = run(
        &["--config", config.as_str(), "--spans", "2"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://user:{SECRET}@[::1"),
            ),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100000000".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "0".to_owned()),
        ],
    );
    let (out, err) = (
        stdout(&output),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{err}");
    assert!(out.contains("metrics-endpoint: 127.0.0.1:"), "{out}");
    assert!(
        err.contains(
            "init-problem: OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"
        ),
        "{err}"
    );
    assert!(
        err.contains("init-problem: OTEL_BSP_MAX_QUEUE_SIZE must be from 1 to 65536; using 65536"),
        "{err}"
    );
    assert!(
        err.contains(
            "init-problem: OTEL_BSP_SCHEDULE_DELAY must be from 100 to 3600000 ms; using 100 ms"
        ),
        "{err}"
    );
    assert!(!err.contains(SECRET) && !out.contains(SECRET), "{err}");

    // the Prometheus port is taken: OTLP traces still arrive
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let receiver = Receiver::start();
    let env = [
        ("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", receiver.http),
        ),
    ];
    let output = run(&["--spans", "3"], &env);
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "init-problem: the /metrics server on 127.0.0.1:{port} cannot listen:"
        )),
        "{err}"
    );
    assert!(err.contains("; metrics for Prometheus are off"), "{err}");
    assert!(!stdout(&output).contains("metrics-endpoint"));
    let received = receiver.wait_for(Duration::from_secs(20), |r| r.spans().len() >= 3);
    assert!(received.spans().iter().any(|s| s.span.name == "handle"));

    // init_strict refuses instead
    let output = run(&["--strict", "--spans", "1"], &env);
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("init-error: telemetry set-up: the /metrics server on 127.0.0.1:"),
        "{err}"
    );
    drop(taken);
}

/// With the collector gone while spans are being retried, shutdown still keeps its
/// deadline, and says why each part could not export, naming the variables to check and
/// never the endpoint.
#[test]
fn shutdown_is_bounded_while_exports_are_retried() {
    // a port nobody listens on: every export is refused
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = run(
        &[
            "--spans",
            "20",
            "--interval-ms",
            "50",
            "--metrics",
            "--log-items",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{gone}")),
            ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100".to_owned()),
            ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "2000".to_owned()),
        ],
    );
    let out = stdout(&output);
    let line = out
        .lines()
        .find(|l| l.starts_with("shutdown:"))
        .expect("a shutdown line");
    let ms: u128 = line
        .rsplit(" after ")
        .next()
        .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("elapsed ms in {line}"));
    eprintln!("shutdown while retrying: {line}");
    assert!(ms < 2_500, "{line}");
    for part in ["traces", "metrics", "logs"] {
        assert!(
            line.contains(&format!("{part}: the last export failed: OTLP {part} export failed: the collector cannot be reached (check OTEL_EXPORTER_OTLP_")),
            "{part}: {line}"
        );
    }
    assert!(!line.contains(&gone.port().to_string()), "{line}");
    assert!(!line.contains("Operation failed"), "{line}");
}

#[test]
fn shutdown_is_bounded_with_a_silent_collector() {
    // accepts connections and never answers
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let shutdown_ms = |deadline: Option<&str>| -> (u128, String) {
        let mut env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{address}")),
            ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned()),
        ];
        if let Some(deadline) = deadline {
            env.push(("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", deadline.to_owned()));
        }
        let output = run(&["--spans", "20", "--metrics"], &env);
        let out = stdout(&output);
        let line = out
            .lines()
            .find(|l| l.starts_with("shutdown:"))
            .expect("a shutdown line")
            .to_owned();
        let ms = line
            .rsplit(" after ")
            .next()
            .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
            .expect("elapsed ms");
        (ms, line)
    };
    let (default_ms, default_line) = shutdown_ms(None);
    let (short_ms, short_line) = shutdown_ms(Some("1000"));
    eprintln!(
        "shutdown with a silent collector: default deadline {default_ms} ms; 1000 ms deadline {short_ms} ms"
    );
    // both providers failed on the collector: still waiting at the deadline, or given up
    // by the SDK's own shutdown timeout, which is the same deadline (whichever a loaded
    // machine reports first)
    for (line, deadline) in [(&default_line, 5000), (&short_line, 1000)] {
        for signal in ["traces", "metrics"] {
            let part = line
                .split("; ")
                .find(|part| part.contains(&format!("{signal}: ")))
                .unwrap_or_else(|| panic!("{signal} in {line}"));
            assert!(
                part.contains(&format!("not finished within {deadline} ms"))
                    || part.contains("what was pending could not be exported"),
                "{line}"
            );
        }
    }
    // the deadline holds for everything together (slack for process scheduling)
    assert!(default_ms < 6_500, "{default_line}");
    assert!(short_ms < 2_500, "{short_line}");
    drop(silent);
}

#[test]
fn the_cardinality_limit_folds_extra_series_into_one_overflow_series() {
    let config = config_file(
        "backend:\n  metrics:\n    cardinalityLimit: 10\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n",
    );
    let serving = Serving::start(&["--config", config.as_str(), "--distinct", "500"], &[]);
    let (_, body) =
        backstage_telemetry_tests::prometheus::get(serving.endpoint, "/metrics").expect("a scrape");
    let series: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("backstage_plugin_probe_items_handled_total{"))
        .collect();
    assert!(series.len() <= 11, "{} series: {series:#?}", series.len());
    let overflow: Vec<&&str> = series
        .iter()
        .filter(|l| l.contains("otel_metric_overflow=\"true\""))
        .collect();
    assert_eq!(overflow.len(), 1, "{series:#?}");
    // nothing is lost: the overflow series holds the rest of the count
    let total: f64 = series
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 500.0, "{series:#?}");
    serving.stop();
}
