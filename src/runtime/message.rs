//! What flows on the channels between tasks.

use crate::exec::Chunk;

/// A message between tasks. Order on a channel is the order of events.
#[derive(Debug, Clone)]
pub enum Message {
    /// Rows.
    Data(Chunk),
    /// Event time has advanced to this watermark (ms): no more on-time rows before it.
    Watermark(i64),
    /// A checkpoint barrier: everything before it on this channel belongs to checkpoint `id`,
    /// everything after it to the next. See [`crate::runtime::checkpoint`].
    Barrier(u64),
    /// The sender will send nothing more.
    End,
}

/// A message tagged with the index of the upstream task that sent it, so a receiver with
/// several upstreams can min-combine their watermarks.
pub type Envelope = (usize, Message);

/// Capacity of every channel, in messages. Small: a slow consumer blocks its producers
/// (backpressure) and memory stays bounded.
pub const CHANNEL_CAPACITY: usize = 16;
