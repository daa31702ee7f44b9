//! A sink that hands result chunks to user code: as an async [`Stream`] or a blocking
//! iterator. Several subscribers of one query each get every chunk.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::Sink;
use crate::error::Result;
use crate::exec::chunk::Chunk;

/// How many chunks a slow subscriber may fall behind before the query waits for it
/// (backpressure, like every channel of the runtime).
const CAPACITY: usize = 16;

/// The sink side: sends every chunk to every subscriber.
pub struct SubscriptionSink {
    subscribers: Vec<mpsc::Sender<Chunk>>,
    written: u64,
}

/// The receiving side of a query's results, in emission order.
///
/// Use it as a `futures::Stream` of [`Chunk`]s (each with its changelog ops), or call
/// [`Subscription::blocking_iter`] from a thread that is not a tokio worker. The stream ends
/// when the query ends or is cancelled.
pub struct Subscription {
    rx: mpsc::Receiver<Chunk>,
}

/// A sink with `n` subscriptions.
pub fn subscriptions(n: usize) -> (SubscriptionSink, Vec<Subscription>) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel(CAPACITY)).unzip();
    (SubscriptionSink { subscribers: txs, written: 0 }, rxs.into_iter().map(|rx| Subscription { rx }).collect())
}

impl Subscription {
    /// The next chunk, or `None` once the query has ended.
    pub async fn next_chunk(&mut self) -> Option<Chunk> {
        self.rx.recv().await
    }

    /// A blocking iterator over the chunks (must not be called from an async context).
    ///
    /// ```
    /// use wavecrest::{Output, Session};
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let mut session = Session::new();
    /// let Some(Output::Continuous(query)) = session
    ///     .sql("CREATE TABLE t (a BIGINT) WITH ('connector' = 'values');
    ///           INSERT INTO t VALUES (1), (2), (3);
    ///           SELECT a FROM t WHERE a > 1;")
    ///     .unwrap()
    ///     .pop() else { unreachable!() };
    /// // Two independent consumers of the same results.
    /// let mut running = runtime.block_on(async { session.start(query, 2) }).unwrap();
    /// let second = running.subscriptions.pop().unwrap();
    /// let first = running.subscriptions.pop().unwrap();
    /// let rows = |s: wavecrest::sink::subscription::Subscription| s.blocking_iter().map(|c| c.num_rows()).sum::<usize>();
    /// assert_eq!(rows(first), 2);
    /// assert_eq!(rows(second), 2);
    /// runtime.block_on(running.wait()).unwrap();
    /// ```
    pub fn blocking_iter(self) -> impl Iterator<Item = Chunk> {
        let mut rx = self.rx;
        std::iter::from_fn(move || rx.blocking_recv())
    }
}

impl Stream for Subscription {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.rx.poll_recv(cx)
    }
}

#[async_trait::async_trait]
impl Sink for SubscriptionSink {
    async fn write(&mut self, chunk: &Chunk) -> Result<()> {
        self.written += chunk.num_rows() as u64;
        // A subscriber that dropped its end no longer receives; the others still do.
        let mut open = Vec::with_capacity(self.subscribers.len());
        for s in self.subscribers.drain(..) {
            if s.send(chunk.clone()).await.is_ok() {
                open.push(s);
            }
        }
        self.subscribers = open;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        self.subscribers.clear();
        Ok(())
    }

    fn rows_written(&self) -> u64 {
        self.written
    }

    fn is_closed(&self) -> bool {
        self.subscribers.is_empty()
    }
}
