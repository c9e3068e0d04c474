//! Running the example backend as its own process, and talking HTTP/1.1 to it.
#![allow(dead_code)] // each test file uses some of these

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backstage_telemetry_tests::otlp::Receiver;
use backstage_telemetry_tests::prometheus::free_address;

/// The backend binary, built by `cargo test` for this test.
pub fn backend_binary() -> &'static str {
    env!("CARGO_BIN_EXE_backend")
}

pub struct Backend {
    pub child: Child,
    pub address: SocketAddr,
    pub metrics: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    pub fn start(receiver: &Receiver) -> Backend {
        Backend::start_with(receiver, &[])
    }

    pub fn start_with(receiver: &Receiver, env: &[(&str, &str)]) -> Backend {
        Backend::start_with_args(receiver, env, &[])
    }

    pub fn start_with_args(receiver: &Receiver, env: &[(&str, &str)], args: &[&str]) -> Backend {
        Backend::launch(receiver, env, args, None)
    }

    /// Starts the backend, with at most `open_files` file descriptors (`ulimit -n`) if given.
    pub fn launch(
        receiver: &Receiver,
        env: &[(&str, &str)],
        args: &[&str],
        open_files: Option<u32>,
    ) -> Backend {
        let endpoint = format!("http://{}", receiver.http);
        Backend::launch_to(&endpoint, env, args, open_files)
    }

    /// Starts the backend exporting over OTLP to `endpoint` (a collector's, say).
    pub fn launch_to(
        endpoint: &str,
        env: &[(&str, &str)],
        args: &[&str],
        open_files: Option<u32>,
    ) -> Backend {
        let address = free_address();
        let metrics = free_address();
        let mut command = match open_files {
            None => Command::new(backend_binary()),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(backend_binary());
                shell
            }
        };
        command.env_clear();
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .args([
                "--port",
                &address.port().to_string(),
                "--shutdown-delay-ms",
                "1500",
            ])
            .args(args)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_EXPORTER_PROMETHEUS_PORT", metrics.port().to_string())
            .env("OTEL_BSP_SCHEDULE_DELAY", "200")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the example backend");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Backend {
            child,
            address,
            metrics,
            logs,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        request(self.address, method, path, headers, body).unwrap_or((0, String::new()))
    }

    pub fn readiness(&self) -> u16 {
        self.request("GET", "/.backstage/health/v1/readiness", &[], "")
            .0
    }

    /// Sends SIGTERM, as an orchestrator stopping the backend does.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(
            sent.is_ok_and(|status| status.success()),
            "kill -TERM {pid}"
        );
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

pub fn until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
