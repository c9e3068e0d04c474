//! The rotel agent, a real OpenTelemetry collector (PyPI: `pip install --pre rotel`), for
//! the tests that go through one: found as `ROTEL_AGENT`, else on `PATH`, else inside the
//! installed `rotel` Python package.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::prometheus::free_address;

pub fn rotel_agent() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        return Some(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("rotel-agent");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.is_file().then_some(path)
}

/// A running agent, killed by its PID when dropped.
pub struct Rotel {
    child: Child,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    _pid_file: PathBuf,
}

impl Rotel {
    pub fn start(agent: &PathBuf, export_to: SocketAddr) -> Rotel {
        Rotel::start_on(agent, export_to, free_address(), free_address())
    }

    /// An agent receiving on these addresses (a restarted one takes its predecessor's).
    pub fn start_on(
        agent: &PathBuf,
        export_to: SocketAddr,
        grpc: SocketAddr,
        http: SocketAddr,
    ) -> Rotel {
        let pid_file = std::env::temp_dir().join(format!(
            "bt-rotel-{}-{}.pid",
            std::process::id(),
            grpc.port()
        ));
        let child = Command::new(agent)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &format!("http://{export_to}")])
            .args(["--otlp-exporter-protocol", "grpc"])
            .args(["--pid-file", pid_file.to_str().expect("utf-8 path")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rotel-agent");
        let deadline = Instant::now() + Duration::from_secs(20);
        for address in [grpc, http] {
            while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "rotel-agent did not listen on {address}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Rotel {
            child,
            grpc,
            http,
            _pid_file: pid_file,
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self._pid_file);
    }
}

/// The agent, or `None` (and the test passes, saying so) when it is missing outside CI.
pub fn agent_or_skip() -> Option<PathBuf> {
    let agent = rotel_agent();
    if agent.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "rotel-agent is missing under CI (.ci/run installs it with `pip install --pre rotel`)"
        );
        eprintln!("skipped: rotel-agent not found (pip install --pre rotel, or set ROTEL_AGENT)");
    }
    agent
}
