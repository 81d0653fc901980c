//! A TCP listener whose connections a handler can reset, for the connection-reset fault.
//!
//! HTTP handlers cannot normally drop their connection: hyper writes whatever they return. Each
//! accepted stream here carries a shared flag; a handler that sets it makes the next write fail,
//! hyper drops the stream, and a zero linger turns the close into a TCP RST.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Per-connection handle given to handlers (as `ConnectInfo<Conn>`).
#[derive(Clone, Debug)]
pub struct Conn {
    reset: Arc<AtomicBool>,
}

impl Conn {
    /// Makes the connection die with a reset instead of sending the response.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Wraps a [`TcpListener`]; see the module docs.
pub struct ResettableListener(pub TcpListener);

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let reset = Arc::new(AtomicBool::new(false));
                    return (
                        ResettableStream {
                            inner: stream,
                            reset: reset.clone(),
                        },
                        Conn { reset },
                    );
                }
                // Out of file descriptors and the like: back off briefly, keep serving.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Conn {
            reset: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every operation once its connection was marked for reset.
pub struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "injected reset",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
