//! Reading an HTTP/1.1 request, for the small servers of the tests (the OTLP receiver's
//! http/protobuf side, the Zipkin receiver, the server the HTTP client tests call).

use std::io::{self, BufRead};

/// One request as received: header names in lower case, the body as sent (`Content-Length`).
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The value of header `name` (lower case) among `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the next request from `reader` (so a kept-alive connection can be read again):
/// `None` when the connection closes first. A body over `max_body` bytes is an error.
pub fn read_request(reader: &mut impl BufRead, max_body: usize) -> io::Result<Option<HttpRequest>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .map_or(Ok(0), str::parse)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
    if length > max_body {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(Some(request))
}
