//! A Zipkin v2 receiver for the tests: `POST /api/v2/spans` with a JSON list of spans, over
//! HTTP/1.1 on 127.0.0.1, as a Zipkin server takes them.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::read_request;

/// The largest request body read; a larger one, or a bad `Content-Length`, is answered 413.
const MAX_BODY: usize = 16 << 20;

/// A running receiver; stops with the test process.
pub struct ZipkinReceiver {
    pub address: SocketAddr,
    spans: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl ZipkinReceiver {
    pub fn start() -> ZipkinReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let received = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let received = received.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &received);
                });
            }
        });
        ZipkinReceiver { address, spans }
    }

    /// The collector endpoint to give the exporter.
    pub fn endpoint(&self) -> String {
        format!("http://{}/api/v2/spans", self.address)
    }

    /// Every span received so far, as Zipkin's JSON.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits up to `timeout` for `done` to hold, and returns the spans.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let until = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() >= until {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Answers the requests of one connection (kept alive) until it closes or idles for 10 s.
fn serve(stream: TcpStream, received: &Mutex<Vec<serde_json::Value>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, MAX_BODY) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                writer.write_all(
                    b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                )?;
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let status = match serde_json::from_slice::<Vec<serde_json::Value>>(&request.body) {
            Ok(spans) if request.method == "POST" && request.path == "/api/v2/spans" => {
                received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(spans);
                "202 Accepted"
            }
            Ok(_) => "404 Not Found",
            Err(_) => "400 Bad Request",
        };
        write!(writer, "HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n")?;
    }
}
