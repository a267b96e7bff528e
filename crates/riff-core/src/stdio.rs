//! Guest stdout/stderr, forwarded line by line to the host's log and tagged with the component id,
//! so output from many components stays readable and attributable.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which guest stream a line came from.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A `StdoutStream` that writes to the host log.
#[derive(Clone)]
pub struct GuestLog {
    component: Arc<str>,
    stream: Stream,
}

impl GuestLog {
    pub fn new(component: Arc<str>, stream: Stream) -> Self {
        Self { component, stream }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { log: self.clone(), buffer: Vec::new() })
    }
}

/// Longest line kept before it is flushed anyway, so a guest cannot grow host memory unbounded.
const MAX_LINE: usize = 16 * 1024;

struct LineWriter {
    log: GuestLog,
    buffer: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match self.log.stream {
            Stream::Stdout => {
                tracing::info!(target: "riff::guest", component = %self.log.component, "{text}")
            }
            Stream::Stderr => {
                tracing::warn!(target: "riff::guest", component = %self.log.component, "{text}")
            }
        }
    }

    fn flush_lines(&mut self) {
        while let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.buffer.len() > MAX_LINE {
            let line = std::mem::take(&mut self.buffer);
            self.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.buffer.extend_from_slice(buf);
        self.flush_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            self.emit(&rest);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.emit(&self.buffer);
        }
    }
}
