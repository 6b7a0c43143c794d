//! Outcomes put back in time order as a log is read, so that they can be replayed and dropped without keeping the
//! whole history.
//!
//! A message's outcome is known when the MTA is done with it, which is not the order of the outcomes' times: a
//! message deferred for days settles long after the messages sent beside it. The reader therefore says, with each
//! batch, a time before which nothing still to come can settle (the first line of the oldest message still in the
//! queue, or the lines not read yet). Outcomes before that time are final in number and order, and are released;
//! only those after it wait. Memory then follows the messages in flight, not the size of the log.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::attempt::Source;
use super::outcome::Outcome;
use super::time::Timestamp;

/// Outcomes waiting for their turn, released in the order of (time, source line, arrival): the order a stable sort
/// of all of them by time and source would give. The heap orders small keys; the outcomes stay in their slots.
#[derive(Debug, Default)]
pub struct InOrder {
    keys: BinaryHeap<Reverse<(Timestamp, Source, u64, usize)>>,
    slots: Vec<Option<Outcome>>,
    free: Vec<usize>,
    arrived: u64,
    released: Option<(Timestamp, Source)>,
    late: u64,
}

impl InOrder {
    /// An empty buffer.
    pub fn new() -> Self {
        InOrder::default()
    }

    /// Adds an outcome. One that comes before an outcome already released (the reader's promise was broken, say by
    /// lines far out of time order) is still released, at once, and counted in [`InOrder::late`].
    pub fn push(&mut self, outcome: Outcome) {
        let key = (outcome.time, outcome.source);
        if self.released.is_some_and(|r| key < r) {
            self.late += 1;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(outcome);
                slot
            }
            None => {
                self.slots.push(Some(outcome));
                self.slots.len() - 1
            }
        };
        self.keys.push(Reverse((key.0, key.1, self.arrived, slot)));
        self.arrived += 1;
    }

    /// Hands `f` every waiting outcome settled before `time`, in order.
    pub fn release_before(&mut self, time: Timestamp, f: &mut impl FnMut(Outcome)) {
        while let Some(&Reverse((t, source, _, _))) = self.keys.peek() {
            if t >= time && self.released.is_none_or(|r| (t, source) >= r) {
                break;
            }
            self.release_first(f);
        }
    }

    /// Hands `f` every waiting outcome, in order.
    pub fn finish(&mut self, f: &mut impl FnMut(Outcome)) {
        while !self.keys.is_empty() {
            self.release_first(f);
        }
    }

    /// How many outcomes are waiting.
    pub fn waiting(&self) -> usize {
        self.keys.len()
    }

    /// How many outcomes came after a later one had been released, and were released out of order.
    pub fn late(&self) -> u64 {
        self.late
    }

    fn release_first(&mut self, f: &mut impl FnMut(Outcome)) {
        let Some(Reverse((time, source, _, slot))) = self.keys.pop() else { return };
        self.released = Some(self.released.map_or((time, source), |r| r.max((time, source))));
        self.free.push(slot);
        if let Some(outcome) = self.slots[slot].take() {
            f(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::Classifier;
    use crate::domain::outcome::judge;

    fn outcome(secs: i64, line: u64, who: &str) -> Outcome {
        let (kind, verdict) =
            judge(crate::domain::attempt::Status::Delivered, &Default::default(), &Classifier::builtin());
        Outcome {
            time: Timestamp::from_secs(secs),
            first_time: Timestamp::from_secs(secs),
            recipient: who.into(),
            campaign: None,
            kind,
            verdict,
            reply: Default::default(),
            provider: crate::domain::provider::Provider::Other,
            source: Source { file: 0, line },
            attempts: 1,
            proof: Vec::new(),
        }
    }

    fn released(order: &mut InOrder, before: Option<i64>) -> Vec<String> {
        let mut out = Vec::new();
        let mut f = |o: Outcome| out.push(o.recipient);
        match before {
            Some(t) => order.release_before(Timestamp::from_secs(t), &mut f),
            None => order.finish(&mut f),
        }
        out
    }

    #[test]
    fn releases_in_time_then_line_then_arrival_order() {
        let mut order = InOrder::new();
        order.push(outcome(5, 50, "e"));
        order.push(outcome(1, 10, "a"));
        order.push(outcome(3, 30, "c1"));
        order.push(outcome(3, 30, "c2"));
        order.push(outcome(2, 20, "b"));
        assert_eq!(released(&mut order, Some(3)), ["a", "b"]);
        assert_eq!(order.waiting(), 3);
        order.push(outcome(4, 40, "d"));
        assert_eq!(released(&mut order, None), ["c1", "c2", "d", "e"]);
        assert_eq!(order.late(), 0);
    }

    #[test]
    fn a_broken_promise_is_counted_and_loses_nothing() {
        let mut order = InOrder::new();
        order.push(outcome(5, 50, "b"));
        assert_eq!(released(&mut order, Some(6)), ["b"]);
        order.push(outcome(1, 10, "a"));
        order.push(outcome(9, 90, "c"));
        assert_eq!(released(&mut order, Some(2)), ["a"]);
        assert_eq!(released(&mut order, None), ["c"]);
        assert_eq!(order.late(), 1);
    }
}
