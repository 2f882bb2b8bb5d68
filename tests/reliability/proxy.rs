//! A TCP proxy the test owns, between the server and one backend (PostgreSQL, SeaweedFS), so
//! that an outage can be made without stopping the backend other tests share: cut, it resets
//! every connection through it and refuses new ones (nothing listens on its port); restored,
//! it listens again on the same port.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub address: SocketAddr,
    cut: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("its address");
        drop(listener);
        let (cut, cuts) = watch::channel(false);
        let task = tokio::spawn(serve(address, target, cuts));
        Self { address, cut, task }
    }

    /// Resets the connections through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(address: SocketAddr) -> tokio::net::TcpListener {
    let socket = TcpSocket::new_v4().expect("a socket");
    // The port is ours: take it back at once after a cut.
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(address).expect("the proxy's port is free");
    socket.listen(128).expect("the proxy listens")
}

async fn serve(address: SocketAddr, target: SocketAddr, mut cuts: watch::Receiver<bool>) {
    loop {
        let listener = bind(address);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((client, _)) = accepted {
                        tokio::spawn(pipe(client, target, cuts.clone()));
                    }
                }
                _ = cut_off(&mut cuts) => break,
            }
        }
        // Refused while cut: nothing listens on the port.
        drop(listener);
        if cuts.wait_for(|cut| !*cut).await.is_err() {
            return;
        }
    }
}

/// Waits for the cut (its guard is not kept: it cannot cross an await).
async fn cut_off(cuts: &mut watch::Receiver<bool>) {
    let _ = cuts.wait_for(|cut| *cut).await.map(|_| ());
}

/// Copies both ways until either side closes, or until the cut, which resets both.
async fn pipe(mut client: TcpStream, target: SocketAddr, mut cuts: watch::Receiver<bool>) {
    let Ok(mut backend) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut backend) => {
            let _ = client.shutdown().await;
        }
        _ = cut_off(&mut cuts) => {
            // A zero linger makes the close an RST, as a crashed peer's would be.
            let _ = client.set_zero_linger();
            let _ = backend.set_zero_linger();
        }
    }
}
