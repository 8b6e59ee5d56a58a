//! NATS for the messaging tests: the shared server (`NATS_URL`, or 127.0.0.1:4222) under
//! the usual skip rule, names no other test uses, and private servers a test may stop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;

/// The shared server's URL.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "127.0.0.1:4222".to_owned())
}

/// A JetStream context on the shared server, or `None` (after the skip message).
pub async fn shared_jetstream() -> Option<jetstream::Context> {
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(nats_url());
    match connect.await {
        Ok(client) => Some(jetstream::new(client)),
        Err(error) => super::unavailable("NATS", error),
    }
}

/// A name no other test of any run uses: `{label}_{pid}_{token}_{n}`, in capitals (a
/// JetStream stream name) and as a subject prefix.
pub fn fresh_name(label: &str) -> String {
    super::fresh_schema()
        .replace("annals_t", label)
        .to_uppercase()
}

/// Every message of `stream`, in the stream's order.
pub async fn stream_messages(
    context: &jetstream::Context,
    stream: &str,
) -> Vec<jetstream::message::StreamMessage> {
    let mut stream = context.get_stream(stream).await.expect("the stream exists");
    let state = stream
        .info()
        .await
        .expect("the stream's info")
        .state
        .clone();
    let mut messages = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        messages.push(
            stream
                .get_raw_message(sequence)
                .await
                .expect("every message of the stream reads"),
        );
    }
    messages
}

/// The value of header `name` of `message`.
pub fn header<'a>(message: &'a jetstream::message::StreamMessage, name: &str) -> Option<&'a str> {
    message.headers.get(name).map(|value| value.as_str())
}

/// A `nats-server` of this test's own, on a free port, with JetStream storage in a folder
/// of its own: a test stops and starts it; the shared server is never stopped.
pub struct PrivateNats {
    pub port: u16,
    store_dir: PathBuf,
    child: Option<Child>,
}

impl PrivateNats {
    /// Starts one, or returns `None` (after the skip message) where the binary is missing.
    pub async fn start() -> Option<PrivateNats> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let store_dir = std::env::temp_dir()
            .join("annals-tests")
            .join(format!("nats-{}-{port}", std::process::id()));
        let mut server = PrivateNats {
            port,
            store_dir,
            child: None,
        };
        if let Err(error) = server.spawn() {
            return super::unavailable("nats-server (binary)", error);
        }
        server.wait_ready().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.store_dir)?;
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the private nats-server did not start on port {}",
            self.port
        );
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub async fn restart(&mut self) {
        self.spawn().expect("the private nats-server starts again");
        self.wait_ready().await;
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store_dir);
    }
}
