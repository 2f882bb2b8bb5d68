//! Closing connections without losing the end of a reply: once the server is done with a
//! connection it stops writing, then reads and discards whatever the client still sends, for a
//! moment, before it closes the socket ("lingering close").
//!
//! A socket closed while input still arrives makes the kernel answer that input with a reset, and
//! a reset can destroy data the client has received but not yet read (RFC 9112, section 9.6).
//! That is what happens at the end of a drain: the last frames of a stream are on their way to
//! the client while the client is still acknowledging earlier ones (WINDOW_UPDATE, PING), so the
//! client could see "connection reset" instead of the end of a stream the server completed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The longest a finished connection is read from before it is closed; a client that saw the
/// end of its last stream closes its side well before.
const LINGER: Duration = Duration::from_secs(2);

/// An accepted connection that lingers when it is closed.
#[derive(Debug)]
pub struct LingeringClose {
    /// `None` only once dropped.
    stream: Option<TcpStream>,
    /// The connection's place among `server.max_connections`, given back once the socket is
    /// closed (after lingering).
    place: Option<OwnedSemaphorePermit>,
}

impl LingeringClose {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream: Some(stream),
            place: None,
        }
    }

    /// The connection, holding `place` until it is closed.
    pub fn holding(stream: TcpStream, place: OwnedSemaphorePermit) -> Self {
        Self {
            stream: Some(stream),
            place: Some(place),
        }
    }

    fn stream(self: Pin<&mut Self>) -> io::Result<Pin<&mut TcpStream>> {
        self.get_mut()
            .stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "the connection is closed"))
    }
}

impl Drop for LingeringClose {
    fn drop(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        // Without a runtime (it is shutting down) nothing can linger: the socket closes now.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let place = self.place.take();
        runtime.spawn(async move {
            let _ = stream.shutdown().await;
            let mut sink = tokio::io::sink();
            let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut stream, &mut sink)).await;
            drop(place);
        });
    }
}

impl AsyncRead for LingeringClose {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsyncWrite for LingeringClose {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(AsyncWrite::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl Connected for LingeringClose {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.as_ref().map_or(
            TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            },
            Connected::connect_info,
        )
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_connection_closed_with_unread_input_delivers_its_last_bytes_and_ends_cleanly() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let mut server = LingeringClose::new(accepted);

        // Input the server never reads, as an HTTP/2 client's acknowledgements of the last
        // frames: closing a plain socket over it sends a reset instead of the end of the reply.
        client.write_all(b"window update").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        server.write_all(b"the end of a reply").await.unwrap();
        drop(server);

        let mut received = Vec::new();
        client
            .read_to_end(&mut received)
            .await
            .expect("the connection ends without a reset");
        assert_eq!(received, b"the end of a reply");
    }
}
