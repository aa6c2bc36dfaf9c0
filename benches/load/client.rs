//! One keep-alive HTTP/1.1 connection that SigV4-signs every request, as an SDK does.

use std::time::SystemTime;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::common;

/// What came back: the status, the error type of a refusal, and the body.
pub struct Answer {
    pub status: u16,
    pub error_type: Option<String>,
    pub body: Vec<u8>,
}

pub struct SignedClient {
    stream: BufReader<TcpStream>,
    host: String,
}

impl SignedClient {
    pub async fn connect(endpoint: &str) -> SignedClient {
        let host = endpoint.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        SignedClient {
            stream: BufReader::new(stream),
            host,
        }
    }

    /// Signs and sends one request and reads its whole answer.
    pub async fn call(&mut self, target: &str, body: &str) -> Answer {
        let request = common::signed_request(
            &self.host,
            Some(target),
            body,
            common::DEV_KEY,
            SystemTime::now(),
            "",
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> Answer {
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"));
        let (mut length, mut error_type) = (0usize, None);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().expect("content-length");
            } else if let Some(v) = lower.strip_prefix("x-amzn-errortype:") {
                error_type = Some(line[line.len() - v.len()..].trim().to_owned());
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.expect("body");
        Answer {
            status,
            error_type,
            body,
        }
    }
}
