//! The README's three span-metric queries (rate, error ratio, p99 per handler), read from
//! the README itself, on a real Prometheus scraping the example under known traffic: a known
//! number of 404s (the caller's errors) does not move the error ratio.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::Receiver;
use backstage_telemetry_tests::prometheus::Prometheus;
use common::Backend;

/// The queries of the README's `promql` block under "Span metrics", continuation lines
/// joined, comments left out.
fn readme_queries() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Span metrics: rate, errors and latency")
        .nth(1)
        .expect("the span metrics section");
    let block = section
        .split("```promql\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("its promql block");
    let mut queries: Vec<String> = Vec::new();
    for line in block.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match queries.last_mut() {
            Some(last) if line.starts_with(' ') => {
                last.push(' ');
                last.push_str(line.trim());
            }
            _ => queries.push(line.trim().to_owned()),
        }
    }
    queries
}

/// `span_name` → value of each series in a Prometheus answer.
fn values(answer: &str) -> Vec<(String, f64)> {
    let body: serde_json::Value = serde_json::from_str(answer).expect("JSON");
    body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {answer}"))
        .iter()
        .map(|series| {
            let name = series["metric"]["span_name"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let value = series["value"][1].as_str().and_then(|v| v.parse().ok());
            (name, value.unwrap_or(f64::NAN))
        })
        .collect()
}

#[test]
fn the_readme_queries_answer_rate_error_ratio_and_p99_per_handler() {
    let queries = readme_queries();
    assert_eq!(queries.len(), 3, "{queries:#?}");
    let receiver = Receiver::start();
    let backend = Backend::start(&receiver);
    let Some(prometheus) = Prometheus::start(backend.metrics) else {
        return;
    };
    let alice = [("authorization", "Bearer alice-token")];
    // scraped before any traffic: every outcome of every handler is a series from
    // start-up, at 0 (rate() counts only what a series gained between two scrapes)
    let get_todo = "sum by (span_name) (backstage_plugin_todos_span_duration_seconds_count{span_name=\"get-todo\"})";
    let outcomes = "count by (span_name) (backstage_plugin_todos_span_duration_seconds_count{span_name=\"get-todo\"})";
    let answer =
        prometheus.query_until(outcomes, Duration::from_secs(30), |a| a.contains("\"5\"]"));
    assert!(answer.contains("\"5\"]"), "{answer}");
    assert!(prometheus.query(get_todo).contains("\"0\"]"), "{answer}");
    // an error's series with its `error.type` starts at its first error: one 404 before
    // the traffic, scraped, so that rate() sees the 30 below
    assert_eq!(backend.request("GET", "/api/todos/8999", &alice, "").0, 404);
    let answer =
        prometheus.query_until(get_todo, Duration::from_secs(30), |a| a.contains("\"1\"]"));
    assert!(answer.contains("\"1\"]"), "{answer}");
    // known traffic: 20 todos created, 30 lookups of todos that do not exist, 10 listings
    for i in 0..20 {
        let body = format!(r#"{{"title":"todo {i}"}}"#);
        assert_eq!(backend.request("POST", "/api/todos", &alice, &body).0, 201);
    }
    for i in 0..30 {
        let path = format!("/api/todos/{}", 9000 + i);
        assert_eq!(backend.request("GET", &path, &alice, "").0, 404);
    }
    for _ in 0..10 {
        assert_eq!(
            backend.request("GET", "/api/todos?limit=5", &alice, "").0,
            200
        );
    }
    // scraped after the traffic
    let answer =
        prometheus.query_until(get_todo, Duration::from_secs(30), |a| a.contains("\"31\"]"));
    assert!(answer.contains("\"31\"]"), "{answer}");
    std::thread::sleep(Duration::from_millis(2500));

    let answers: Vec<Vec<(String, f64)>> = queries
        .iter()
        .map(|query| {
            let answer = prometheus.query(query);
            eprintln!("{query}\n  => {answer}");
            values(&answer)
        })
        .collect();
    let of = |answer: &[(String, f64)], name: &str| {
        answer
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {name} in {answer:?}"))
    };
    let (rate, ratio, p99) = (&answers[0], &answers[1], &answers[2]);
    for handler in ["create-todo", "get-todo", "list-todos"] {
        assert!(of(rate, handler) > 0.0, "rate of {handler}: {rate:?}");
        // 404s are the caller's: the error ratio of every handler stays 0
        assert_eq!(
            of(ratio, handler),
            0.0,
            "error ratio of {handler}: {ratio:?}"
        );
        let p99 = of(p99, handler);
        assert!(p99 > 0.0 && p99 <= 10.0, "p99 of {handler}: {p99}");
    }
    // the rates follow the traffic: three lookups for every two creations (rate()
    // extrapolates each series by how far it is from 0, so not exactly)
    let lookups_per_creation = of(rate, "get-todo") / of(rate, "create-todo");
    assert!(
        (1.3..1.7).contains(&lookups_per_creation),
        "{lookups_per_creation}: {rate:?}"
    );
    // (that p99s tell handlers of different latencies apart is sdk.rs's
    // p99s_of_fast_and_slow_handlers_differ_on_a_real_prometheus: these handlers' own
    // latencies depend on the machine)
    drop(prometheus);
}
