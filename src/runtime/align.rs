//! Barrier alignment for a task with several upstreams (Flink's aligned checkpoints).
//!
//! ```text
//! upstream 0: ─ a ─ b ─|B7|─ c ─ d ──────▶   c, d held back (0 already delivered B7)
//! upstream 1: ─ x ─────────── y ─|B7|─ z ▶   x, y pass; at B7 the task is aligned:
//!                                           snapshot, forward B7, then c, d, z
//! ```
//!
//! Once an upstream has delivered barrier `n`, its later messages are held until every
//! upstream that has not ended has delivered `n` too. The task's state at that moment
//! reflects exactly the input before `n` on every channel, which is what makes a checkpoint
//! consistent.

use std::collections::VecDeque;

use super::message::{Envelope, Message};

/// What the task should do with a message it received.
#[derive(Debug)]
pub enum Step {
    /// Process the message as usual.
    Deliver(Message),
    /// The message is held until alignment; nothing to do now.
    Held,
    /// Every upstream delivered this barrier: snapshot, forward it, then carry on with
    /// [`Aligner::pop_ready`] before reading the channel again.
    Aligned(u64),
}

/// Holds back input from upstreams that are ahead of a barrier.
#[derive(Debug)]
pub struct Aligner {
    blocked: Vec<bool>,
    ended: Vec<bool>,
    held: Vec<VecDeque<Message>>,
    ready: VecDeque<Envelope>,
    pending: Option<u64>,
}

impl Aligner {
    /// An aligner for `upstreams` upstream tasks, none blocked.
    pub fn new(upstreams: usize) -> Self {
        let n = upstreams.max(1);
        Aligner {
            blocked: vec![false; n],
            ended: vec![false; n],
            held: (0..n).map(|_| VecDeque::new()).collect(),
            ready: VecDeque::new(),
            pending: None,
        }
    }

    /// A message released by the last alignment, to be handled (through [`Aligner::accept`])
    /// before anything new is read from the channel.
    pub fn pop_ready(&mut self) -> Option<Envelope> {
        self.ready.pop_front()
    }

    /// Takes a message from upstream `from`, in channel order (or from [`Aligner::pop_ready`]).
    pub fn accept(&mut self, from: usize, msg: Message) -> Step {
        if self.blocked[from] {
            self.held[from].push_back(msg);
            return Step::Held;
        }
        match msg {
            Message::Barrier(id) => {
                self.pending = Some(self.pending.map_or(id, |p| p.max(id)));
                self.blocked[from] = true;
                if self.complete() {
                    return self.release();
                }
                Step::Held
            }
            Message::End => {
                self.ended[from] = true;
                if self.pending.is_some() && self.complete() {
                    // The barrier goes first; the End follows it.
                    self.ready.push_front((from, Message::End));
                    return self.release();
                }
                Step::Deliver(Message::End)
            }
            other => Step::Deliver(other),
        }
    }

    fn complete(&self) -> bool {
        self.blocked.iter().zip(&self.ended).all(|(b, e)| *b || *e)
    }

    fn release(&mut self) -> Step {
        let id = self.pending.take().unwrap_or_default();
        // Held messages came before anything still in `ready` from the same upstream.
        let mut released: VecDeque<Envelope> = VecDeque::new();
        for (from, held) in self.held.iter_mut().enumerate() {
            released.extend(held.drain(..).map(|m| (from, m)));
        }
        released.append(&mut self.ready);
        self.ready = released;
        self.blocked.iter_mut().for_each(|b| *b = false);
        Step::Aligned(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` (upstream, message) through an aligner the way a task does and returns
    /// what the task processes, in order: `w<n>` for watermarks, `B<n>` at alignment, `E<i>`.
    fn run(upstreams: usize, input: &[(usize, Message)]) -> Vec<String> {
        let mut a = Aligner::new(upstreams);
        let mut out = Vec::new();
        let mut input = input.iter().cloned();
        loop {
            let Some((from, msg)) = a.pop_ready().or_else(|| input.next()) else { break };
            match a.accept(from, msg) {
                Step::Held => {}
                Step::Aligned(id) => out.push(format!("B{id}")),
                Step::Deliver(Message::Watermark(w)) => out.push(format!("{from}:w{w}")),
                Step::Deliver(Message::End) => out.push(format!("E{from}")),
                Step::Deliver(m) => panic!("unexpected {m:?}"),
            }
        }
        out
    }

    use Message::{Barrier as B, End, Watermark as W};

    #[test]
    fn input_behind_a_delivered_barrier_waits_for_alignment() {
        let input = [(0, W(1)), (0, B(7)), (0, W(2)), (1, W(10)), (0, W(3)), (1, W(11)), (1, B(7)), (1, W(12))];
        assert_eq!(run(2, &input), ["0:w1", "1:w10", "1:w11", "B7", "0:w2", "0:w3", "1:w12"]);
    }

    #[test]
    fn one_upstream_aligns_at_once() {
        assert_eq!(run(1, &[(0, W(1)), (0, B(1)), (0, W(2)), (0, B(2)), (0, End)]), ["0:w1", "B1", "0:w2", "B2", "E0"]);
    }

    #[test]
    fn a_second_barrier_in_the_held_input_blocks_again() {
        let input = [(0, B(1)), (0, W(1)), (0, B(2)), (0, W(2)), (1, B(1)), (1, W(5)), (1, B(2)), (1, W(6))];
        assert_eq!(run(2, &input), ["B1", "0:w1", "1:w5", "B2", "0:w2", "1:w6"]);
    }

    #[test]
    fn an_ended_upstream_does_not_hold_a_barrier_back() {
        let input = [(0, B(3)), (0, W(1)), (1, W(9)), (1, End), (0, End)];
        assert_eq!(run(2, &input), ["1:w9", "B3", "0:w1", "E1", "E0"]);
        let input = [(1, End), (0, B(3)), (0, End)];
        assert_eq!(run(2, &input), ["E1", "B3", "E0"]);
    }
}
