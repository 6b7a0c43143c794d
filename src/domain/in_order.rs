//! Outcomes put back in time order as a log is read, so that they can be replayed and dropped without keeping the
//! whole history.
//!
//! A message's outcome is known when the MTA is done with it, which is not the order of the outcomes' times: a
//! message deferred for days settles long after the messages sent beside it. The reader therefore says, with each
//! batch, a time before which nothing still to come can settle (for the messages still in the queue, each
//! recipient's first final try, or else its last try; and the lines not read yet). Outcomes before that time are
//! final in number and order, and are released; only those after it wait. Memory then follows the messages in
//! flight, not the size of the log.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::attempt::Source;
use super::outcome::Outcome;
use super::time::Timestamp;

/// Outcomes (or any [`InTime`], such as the tries `classify` shows) waiting for their turn, released in the order
/// of (time, source line, arrival): the order a stable sort of all of them by time and source would give.
///
/// The outcomes that arrive between two releases are sorted together into a run; a release merges the runs through
/// a heap of their first outcomes. A heap of every waiting outcome would cost a deep sift per outcome; runs are
/// sorted in cache, and the heap holds one key per run.
#[derive(Debug)]
pub struct InOrder<T = Outcome> {
    /// Outcomes pushed since the last release, with their arrival numbers.
    arrivals: Vec<(u64, T)>,
    /// Sorted runs, each released from its front; `None` for a run used up (its place is reused).
    runs: Vec<Option<VecDeque<(u64, T)>>>,
    free: Vec<usize>,
    /// A used-up run's room, emptied, to take the next arrivals: new room for every batch was memory the system
    /// had to fault in again each time.
    spare: Option<Vec<(u64, T)>>,
    /// The key of the first outcome of every run that has one: (time, source, arrival, run).
    heads: BinaryHeap<Reverse<(Timestamp, Source, u64, usize)>>,
    arrived: u64,
    waiting: usize,
    released: Option<(Timestamp, Source)>,
    late: u64,
}

/// What [`InOrder`] puts in order: anything with a time and the line it comes from.
pub trait InTime {
    /// Its time, and the line that gave it.
    fn order(&self) -> (Timestamp, Source);
}

impl InTime for Outcome {
    fn order(&self) -> (Timestamp, Source) {
        (self.time, self.source)
    }
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            arrivals: Vec::new(),
            runs: Vec::new(),
            free: Vec::new(),
            spare: None,
            heads: BinaryHeap::new(),
            arrived: 0,
            waiting: 0,
            released: None,
            late: 0,
        }
    }
}

impl<T: InTime> InOrder<T> {
    /// An empty buffer.
    pub fn new() -> Self {
        InOrder::default()
    }

    /// Adds an outcome. One that comes before an outcome already released (the reader's promise was broken, say by
    /// lines far out of time order) is still released, at once, and counted in [`InOrder::late`].
    pub fn push(&mut self, outcome: T) {
        if self.released.is_some_and(|r| outcome.order() < r) {
            self.late += 1;
        }
        self.arrivals.push((self.arrived, outcome));
        self.arrived += 1;
        self.waiting += 1;
    }

    /// Makes room for `n` more outcomes before the next release: a batch's outcomes are pushed one by one.
    pub fn reserve(&mut self, n: usize) {
        self.arrivals.reserve(n);
    }

    /// Hands `f` every waiting outcome settled before `time`, in order.
    pub fn release_before(&mut self, time: Timestamp, f: &mut impl FnMut(T)) {
        self.seal();
        while let Some(&Reverse((t, source, _, _))) = self.heads.peek() {
            if t >= time && self.released.is_none_or(|r| (t, source) >= r) {
                break;
            }
            self.release_first(f);
        }
    }

    /// Hands `f` every waiting outcome, in order.
    pub fn finish(&mut self, f: &mut impl FnMut(T)) {
        self.seal();
        while !self.heads.is_empty() {
            self.release_first(f);
        }
    }

    /// How many outcomes are waiting.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// How many outcomes came after a later one had been released, and were released out of order.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Makes the outcomes that arrived since the last release a sorted run.
    fn seal(&mut self) {
        if self.arrivals.is_empty() {
            return;
        }
        let spare = self.spare.take().unwrap_or_default();
        let mut run = std::mem::replace(&mut self.arrivals, spare);
        // Outcomes at the same time and line stay in arrival order; the arrival number makes every key distinct,
        // so a sort in place (without a stable sort's scratch vector) gives that order.
        run.sort_unstable_by_key(|a| (a.1.order(), a.0));
        let run = VecDeque::from(run);
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.runs.push(None);
                self.runs.len() - 1
            }
        };
        if let Some((arrival, o)) = run.front() {
            let (time, source) = o.order();
            self.heads.push(Reverse((time, source, *arrival, index)));
        }
        self.runs[index] = Some(run);
    }

    fn release_first(&mut self, f: &mut impl FnMut(T)) {
        let Some(Reverse((time, source, _, index))) = self.heads.pop() else { return };
        let Some(run) = self.runs[index].as_mut() else { return };
        let Some((_, outcome)) = run.pop_front() else { return };
        match run.front() {
            Some((arrival, next)) => {
                let (time, source) = next.order();
                self.heads.push(Reverse((time, source, *arrival, index)));
            }
            None => {
                if let Some(used) = self.runs[index].take() {
                    let used = Vec::from(used);
                    if self.spare.as_ref().is_none_or(|s| s.capacity() < used.capacity()) {
                        self.spare = Some(used);
                    }
                }
                self.free.push(index);
            }
        }
        self.released = Some(self.released.map_or((time, source), |r| r.max((time, source))));
        self.waiting -= 1;
        f(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::Classifier;
    use crate::domain::outcome::judge;

    fn outcome(secs: i64, line: u64, who: &str) -> Outcome {
        static CLASSIFIER: std::sync::LazyLock<Classifier> = std::sync::LazyLock::new(Classifier::builtin);
        let (kind, verdict) = judge(crate::domain::attempt::Status::Delivered, &Default::default(), &CLASSIFIER);
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

    /// The order by definition: the smallest waiting (time, line, arrival) while it is before the bound or before
    /// the latest released.
    fn model(ops: &[(i64, u64, Option<i64>)]) -> (Vec<String>, u64) {
        type Waiting = Vec<(i64, u64, usize)>;
        fn release(
            waiting: &mut Waiting,
            before: Option<i64>,
            released: &mut Option<(i64, u64)>,
            out: &mut Vec<String>,
        ) {
            while let Some(i) = (0..waiting.len()).min_by_key(|&i| waiting[i]) {
                let (t, line, n) = waiting[i];
                if before.is_some_and(|b| t >= b) && released.is_none_or(|r| (t, line) >= r) {
                    break;
                }
                waiting.remove(i);
                *released = Some(released.map_or((t, line), |r| r.max((t, line))));
                out.push(n.to_string());
            }
        }
        let (mut waiting, mut out, mut released, mut late) = (Waiting::new(), Vec::new(), None, 0);
        for (n, &(t, line, before)) in ops.iter().enumerate() {
            if released.is_some_and(|r| (t, line) < r) {
                late += 1;
            }
            waiting.push((t, line, n));
            if let Some(b) = before {
                release(&mut waiting, Some(b), &mut released, &mut out);
            }
        }
        release(&mut waiting, None, &mut released, &mut out);
        (out, late)
    }

    proptest::proptest! {
        #[test]
        fn runs_release_in_the_order_of_the_definition(
            ops in proptest::collection::vec((0i64..40, 0u64..6, proptest::option::weighted(0.3, 0i64..45)), 0..120)
        ) {
            let mut order = InOrder::new();
            let mut out = Vec::new();
            for (n, &(t, line, before)) in ops.iter().enumerate() {
                order.push(outcome(t, line, &n.to_string()));
                if let Some(b) = before {
                    out.extend(released(&mut order, Some(b)));
                }
            }
            out.extend(released(&mut order, None));
            proptest::prop_assert_eq!(order.waiting(), 0);
            proptest::prop_assert_eq!((out, order.late()), model(&ops));
        }
    }
}
