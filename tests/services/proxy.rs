//! A TCP proxy that cuts connections, in process: the network trouble a store meets in
//! production (a load balancer's idle timeout, a failover, a flaky link), injected where a
//! test wants it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections to an upstream server and, every `min`..`max` (at random), resets
/// every connection open through it: both sides see the connection reset, whatever was in
/// flight.
pub struct CuttingProxy {
    address: SocketAddr,
    cuts: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
}

impl CuttingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, min: Duration, max: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let (stop, _) = watch::channel(false);
        // Each cut bumps the generation; every connection ends when it changes.
        let (generation, _) = watch::channel(0u64);
        let cuts = Arc::new(AtomicUsize::new(0));
        let generation = Arc::new(generation);
        tokio::spawn(accept(
            listener,
            upstream,
            Arc::clone(&generation),
            stop.subscribe(),
        ));
        tokio::spawn(cut_now_and_then(
            generation,
            Arc::clone(&cuts),
            min,
            max,
            stop.subscribe(),
        ));
        CuttingProxy {
            address,
            cuts,
            stop,
        }
    }

    /// The port to connect to instead of the upstream's.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many times it has reset its connections.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    generation: Arc<watch::Sender<u64>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((client, _)) = accepted else { continue };
        let cut = generation.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            forward(client, server, cut).await;
        });
    }
}

/// Copies both ways until either side closes or a cut comes; a cut resets both sockets.
async fn forward(mut client: TcpStream, mut server: TcpStream, mut cut: watch::Receiver<u64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.changed() => {
            // Abortive close: a TCP reset to both peers, whatever is in flight.
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}

async fn cut_now_and_then(
    generation: Arc<watch::Sender<u64>>,
    cuts: Arc<AtomicUsize>,
    min: Duration,
    max: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut random = Xorshift::seeded();
    loop {
        let spread = (max - min).as_millis().max(1) as u64;
        let pause = min + Duration::from_millis(random.next() % spread);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        generation.send_modify(|generation| *generation += 1);
        cuts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A small pseudo-random sequence (no dependency for it).
struct Xorshift(u64);

impl Xorshift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |since| since.subsec_nanos() as u64);
        Xorshift(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
