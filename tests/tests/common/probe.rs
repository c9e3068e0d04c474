//! Running the `probe` application (tests/src/bin/probe.rs) as a separate process with a
//! clean environment.
#![allow(dead_code)] // each test file uses some of these

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

pub fn probe(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_probe"));
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Runs the probe to completion (it is killed after 60 s).
pub fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let child = probe(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probe");
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    drop(watchdog);
    child.wait_with_output().expect("probe output")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A probe serving until `stop`: its `/metrics` address.
pub struct Serving {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    pub endpoint: SocketAddr,
}

impl Serving {
    pub fn start(args: &[&str], env: &[(&str, String)]) -> Serving {
        let mut all = args.to_vec();
        all.push("--serve");
        let mut child = probe(&all, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start probe");
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut endpoint = None;
        for line in lines.by_ref() {
            let line = line.expect("probe output");
            if let Some(address) = line.strip_prefix("metrics-endpoint: ") {
                endpoint = Some(address.parse().expect("address"));
            }
            if line == "ready" {
                break;
            }
        }
        Serving {
            child,
            stdin,
            stdout: lines,
            endpoint: endpoint.expect("the probe serves /metrics"),
        }
    }

    /// Closes its stdin and waits for it to shut down cleanly.
    pub fn stop(mut self) {
        drop(self.stdin.take());
        let rest: Vec<String> = self.stdout.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().expect("probe exit");
        assert!(status.success(), "{rest:?}");
        assert!(
            rest.iter().any(|l| l.starts_with("shutdown: ok")),
            "{rest:?}"
        );
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn config_file(yaml: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::new(yaml)
}

pub mod tempfile_path {
    /// A config file removed when dropped.
    pub struct TempPath(pub std::path::PathBuf);

    impl TempPath {
        pub fn new(contents: &str) -> TempPath {
            use std::sync::atomic::{AtomicU32, Ordering};
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "bt-app-config-{}-{}.yaml",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).expect("write config");
            TempPath(path)
        }

        pub fn as_str(&self) -> &str {
            self.0.to_str().expect("utf-8 path")
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
