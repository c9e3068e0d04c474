//! A real Prometheus server for the tests: Debian's `prometheus` binary on a free loopback
//! port, scraping one target every second, with storage in a temporary directory; stopped
//! by its PID when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    pub address: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target`. Without the binary: a failure under CI (`CI` is
    /// set), else `None` with a warning.
    pub fn start(target: SocketAddr) -> Option<Prometheus> {
        Self::start_with(target, &[])
    }

    /// [`Prometheus::start`] with more command-line flags (e.g.
    /// `--enable-feature=exemplar-storage`).
    pub fn start_with(target: SocketAddr, flags: &[&str]) -> Option<Prometheus> {
        let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".to_owned());
        if Command::new(&binary).arg("--version").output().is_err() {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "`{binary}` is not installed; .ci/run installs it with apt-get install prometheus"
                );
            }
            eprintln!(
                "WARNING: `{binary}` is not installed; this test did not run (apt-get install prometheus)"
            );
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "bt-prometheus-{}-{}",
            std::process::id(),
            target.port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: backstage\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let address = free_address();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--log.level=warn")
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            address,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(address, "/-/ready").map(|(status, _)| status) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus did not become ready on {address}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prometheus)
    }

    /// The JSON answer of an instant query.
    pub fn query(&self, promql: &str) -> String {
        let path = format!("/api/v1/query?query={}", encode(promql));
        get(self.address, &path)
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// The JSON answer of an exemplar query over the last `window` up to now.
    pub fn query_exemplars(&self, promql: &str, window: Duration) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let start = now.saturating_sub(window);
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            encode(promql),
            start.as_secs(),
            now.as_secs() + 1
        );
        get(self.address, &path)
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Queries until `done` holds for the answer or `timeout` passes; returns the last answer.
    pub fn query_until(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.query(promql);
            if done(&answer) || Instant::now() > deadline {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A plain HTTP/1.1 GET: status and body.
pub fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    get_with(address, path, "").map(|(status, _, body)| (status, body))
}

/// A plain HTTP/1.1 GET with `headers` (each line ending in `\r\n`): status, the
/// response's head (lower case) and body.
pub fn get_with(address: SocketAddr, path: &str, headers: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response).to_string();
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, head, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
