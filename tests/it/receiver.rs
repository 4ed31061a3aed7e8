//! A scripted notification receiver on loopback: each connection gets the next behaviour of
//! the script (an answer, a hang past the sender's timeout, or a dropped connection), and every
//! request it read is recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with this status and body.
    Answer(u16, &'static str),
    /// Read the request, then say nothing for this long.
    Hang(Duration),
    /// Read the request, then close the connection without answering.
    Close,
}

pub use Behaviour::*;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub head: String,
    pub body: Vec<u8>,
}

pub struct Receiver {
    pub url: String,
    script: Arc<Mutex<VecDeque<Behaviour>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts a receiver; once the script is used up it answers `success`.
    pub async fn start(script: Vec<Behaviour>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/notify", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), received.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let behaviour = s
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or(Answer(200, "success"));
                    r.lock().unwrap().push(request);
                    match behaviour {
                        Answer(status, body) => {
                            let reply = format!(
                                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nLocation: http://127.0.0.1:9/\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = socket.write_all(reply.as_bytes()).await;
                        }
                        Hang(d) => tokio::time::sleep(d).await,
                        Close => {}
                    }
                });
            }
        });
        Receiver {
            url,
            script,
            received,
        }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn last(&self) -> Received {
        self.received
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request was received")
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Behaviours not used yet.
    pub fn remaining(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        head,
        body: buf[head_end..].to_vec(),
    })
}
