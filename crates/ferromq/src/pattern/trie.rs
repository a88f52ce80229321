//! Subscription sets: which topic prefixes a subscriber asked for.
//!
//! Two flavours, as in libzmq:
//!
//! - [`PrefixSet`] is the subscriber's own (SUB/XSUB) list. It counts:
//!   subscribing to a topic twice takes two cancels to undo.
//! - [`PrefixMap`] is the publisher's (PUB/XPUB) view: for each topic, the
//!   set of pipes subscribed to it. Per pipe it is a plain set (a second
//!   subscribe from the same pipe changes nothing, one cancel removes it),
//!   because a libzmq subscriber sends every SUBSCRIBE but only the cancel
//!   that drops its count to zero. Adding and removing report whether the
//!   topic gained its first pipe or lost its last one, which is what a
//!   non-verbose XPUB passes upstream.
//!
//! A topic matches a message when it is a prefix of the message's first
//! frame; the empty topic matches everything. Both sets index topics by
//! length, so matching costs one hash lookup per distinct topic length
//! (not per topic).

use super::PipeId;
use std::collections::HashMap;

/// How many distinct topics there are of each length, so a match only
/// probes the prefix lengths that can hit. A short vector sorted by length:
/// there are few distinct lengths, and a match walks them all, which a
/// `BTreeMap` range made cost a tree descent per message.
#[derive(Default, Debug)]
struct Lengths(Vec<(usize, usize)>);

impl Lengths {
    fn add(&mut self, len: usize) {
        match self.0.binary_search_by_key(&len, |&(l, _)| l) {
            Ok(i) => self.0[i].1 += 1,
            Err(i) => self.0.insert(i, (len, 1)),
        }
    }

    fn remove(&mut self, len: usize) {
        if let Ok(i) = self.0.binary_search_by_key(&len, |&(l, _)| l) {
            self.0[i].1 -= 1;
            if self.0[i].1 == 0 {
                self.0.remove(i);
            }
        }
    }

    /// Whether some topic is empty (there is only one empty topic, so a
    /// length of 0 means it is subscribed): it matches every message.
    #[inline]
    fn has_empty(&self) -> bool {
        self.0.first().is_some_and(|&(l, _)| l == 0)
    }

    /// The prefixes of `data` that have the length of some topic.
    fn prefixes<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .take_while(move |&&(len, _)| len <= data.len())
            .map(move |&(len, _)| &data[..len])
    }
}

/// A counted set of subscribed prefixes (SUB/XSUB side).
#[derive(Default, Debug)]
pub(crate) struct PrefixSet {
    counts: HashMap<Vec<u8>, u32>,
    lengths: Lengths,
}

impl PrefixSet {
    /// Adds one subscription to `topic`; true if it was not subscribed
    /// before (its count went from 0 to 1).
    pub(crate) fn add(&mut self, topic: &[u8]) -> bool {
        if let Some(n) = self.counts.get_mut(topic) {
            *n = n.saturating_add(1);
            return false;
        }
        self.counts.insert(topic.to_vec(), 1);
        self.lengths.add(topic.len());
        true
    }

    /// Removes one subscription to `topic`; true if that was the last one
    /// (its count went from 1 to 0). Removing a topic that is not
    /// subscribed does nothing and returns false.
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(n) = self.counts.get_mut(topic) else {
            return false;
        };
        *n -= 1;
        if *n > 0 {
            return false;
        }
        self.counts.remove(topic);
        self.lengths.remove(topic.len());
        true
    }

    /// Whether some subscribed topic is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        // The empty topic (subscribe to everything, the common case)
        // matches without hashing anything: a SUB spent a third of its
        // receive path hashing the empty prefix.
        if self.lengths.has_empty() {
            return true;
        }
        self.lengths
            .prefixes(data)
            .any(|prefix| self.counts.contains_key(prefix))
    }

    /// Every subscribed topic, once each whatever its count.
    pub(crate) fn topics(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.counts.keys().map(Vec::as_slice)
    }
}

/// What [`PrefixMap::remove`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removed {
    /// The pipe was not subscribed to the topic.
    NotFound,
    /// The pipe was the topic's last subscriber.
    Last,
    /// Other pipes are still subscribed to the topic.
    OthersRemain,
}

/// Subscribed prefixes with the pipes subscribed to each (PUB/XPUB side).
#[derive(Default, Debug)]
pub(crate) struct PrefixMap {
    /// Topic -> subscribed pipes (sorted, no duplicates, never empty),
    /// for every topic but the empty one.
    topics: HashMap<Vec<u8>, Vec<PipeId>>,
    /// The pipes subscribed to the empty topic (to everything), kept out
    /// of `topics` so that matching it, what nearly every PUB does for
    /// every message, hashes nothing (sorted, no duplicates, maybe empty).
    everything: Vec<PipeId>,
    /// Pipe -> its topics, for removing a pipe that went away.
    by_pipe: super::IdMap<Vec<Vec<u8>>>,
    lengths: Lengths,
}

impl PrefixMap {
    /// The pipes subscribed to `topic`, if any.
    fn pipes(&self, topic: &[u8]) -> Option<&Vec<PipeId>> {
        if topic.is_empty() {
            return (!self.everything.is_empty()).then_some(&self.everything);
        }
        self.topics.get(topic)
    }

    fn pipes_mut(&mut self, topic: &[u8]) -> Option<&mut Vec<PipeId>> {
        if topic.is_empty() {
            return (!self.everything.is_empty()).then_some(&mut self.everything);
        }
        self.topics.get_mut(topic)
    }

    fn insert_topic(&mut self, topic: &[u8], pipe: PipeId) {
        if topic.is_empty() {
            self.everything = vec![pipe];
        } else {
            self.topics.insert(topic.to_vec(), vec![pipe]);
        }
    }

    /// Forgets `topic`, whose pipe list has just become empty.
    fn remove_topic(&mut self, topic: &[u8]) {
        if !topic.is_empty() {
            self.topics.remove(topic);
        }
    }

    /// Subscribes `pipe` to `topic`; true if the topic had no subscriber
    /// before. Subscribing a pipe twice is the same as once.
    pub(crate) fn add(&mut self, topic: &[u8], pipe: PipeId) -> bool {
        let first = match self.pipes_mut(topic) {
            Some(pipes) => {
                let Err(at) = pipes.binary_search(&pipe) else {
                    return false;
                };
                pipes.insert(at, pipe);
                false
            }
            None => {
                self.insert_topic(topic, pipe);
                self.lengths.add(topic.len());
                true
            }
        };
        self.by_pipe.entry(pipe).or_default().push(topic.to_vec());
        first
    }

    /// Unsubscribes `pipe` from `topic`.
    pub(crate) fn remove(&mut self, topic: &[u8], pipe: PipeId) -> Removed {
        let Some(pipes) = self.pipes_mut(topic) else {
            return Removed::NotFound;
        };
        let Ok(at) = pipes.binary_search(&pipe) else {
            return Removed::NotFound;
        };
        pipes.remove(at);
        let others_remain = !pipes.is_empty();
        if let Some(list) = self.by_pipe.get_mut(&pipe) {
            if let Some(i) = list.iter().position(|t| t == topic) {
                list.swap_remove(i);
            }
            if list.is_empty() {
                self.by_pipe.remove(&pipe);
            }
        }
        if others_remain {
            return Removed::OthersRemain;
        }
        self.remove_topic(topic);
        self.lengths.remove(topic.len());
        Removed::Last
    }

    /// Unsubscribes `pipe` from everything, calling `removed(topic, last)`
    /// for each of its topics (`last`: no other pipe is subscribed to it).
    pub(crate) fn remove_pipe(&mut self, pipe: PipeId, mut removed: impl FnMut(&[u8], bool)) {
        let Some(list) = self.by_pipe.remove(&pipe) else {
            return;
        };
        for topic in list {
            let Some(pipes) = self.pipes_mut(&topic) else {
                continue;
            };
            if let Ok(at) = pipes.binary_search(&pipe) {
                pipes.remove(at);
            }
            let last = pipes.is_empty();
            if last {
                self.remove_topic(&topic);
                self.lengths.remove(topic.len());
            }
            removed(&topic, last);
        }
    }

    /// Calls `hit` for every pipe subscribed to a prefix of `data` (a pipe
    /// subscribed to several matching prefixes is reported once per prefix).
    pub(crate) fn for_each_match(&self, data: &[u8], mut hit: impl FnMut(PipeId)) {
        for prefix in self.lengths.prefixes(data) {
            if let Some(pipes) = self.pipes(prefix) {
                pipes.iter().copied().for_each(&mut hit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(map: &PrefixMap, data: &[u8]) -> Vec<PipeId> {
        let mut v = Vec::new();
        map.for_each_match(data, |p| v.push(p));
        v.sort_unstable();
        v.dedup();
        v
    }

    #[test]
    fn prefix_set_counts_and_matches_prefixes() {
        let mut s = PrefixSet::default();
        assert!(!s.matches(b"anything"));
        assert!(s.add(b"ab"));
        assert!(!s.add(b"ab"));
        assert!(s.matches(b"ab"));
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"a"));
        assert!(!s.matches(b"b"));
        assert!(!s.remove(b"ab"), "one subscription remains");
        assert!(s.matches(b"abc"));
        assert!(s.remove(b"ab"), "last one");
        assert!(!s.matches(b"abc"));
        assert!(!s.remove(b"ab"), "not subscribed any more");
        assert!(!s.remove(b"zz"));
        assert_eq!(s.topics().count(), 0);
    }

    #[test]
    fn empty_topic_matches_everything() {
        let mut s = PrefixSet::default();
        s.add(b"");
        assert!(s.matches(b""));
        assert!(s.matches(b"x"));
        s.add(b"long topic");
        s.remove(b"");
        assert!(!s.matches(b"x"));
        assert!(s.matches(b"long topic!"));
        assert!(!s.matches(b"long"));
    }

    #[test]
    fn prefix_set_lists_each_topic_once() {
        let mut s = PrefixSet::default();
        s.add(b"a");
        s.add(b"a");
        s.add(b"");
        let mut topics: Vec<Vec<u8>> = s.topics().map(<[u8]>::to_vec).collect();
        topics.sort();
        assert_eq!(topics, vec![b"".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn prefix_map_reports_first_and_last_across_pipes() {
        let mut m = PrefixMap::default();
        assert!(m.add(b"A", 1));
        assert!(!m.add(b"A", 1), "same pipe again: a set, not a count");
        assert!(!m.add(b"A", 2));
        assert_eq!(matching(&m, b"Apple"), vec![1, 2]);
        assert_eq!(m.remove(b"A", 1), Removed::OthersRemain);
        assert_eq!(m.remove(b"A", 1), Removed::NotFound);
        assert_eq!(m.remove(b"B", 1), Removed::NotFound);
        assert_eq!(matching(&m, b"Apple"), vec![2]);
        assert_eq!(m.remove(b"A", 2), Removed::Last);
        assert!(matching(&m, b"Apple").is_empty());
        assert!(m.add(b"A", 2), "new again after the last cancel");
    }

    #[test]
    fn prefix_map_empty_topic_is_a_topic_like_the_others() {
        let mut m = PrefixMap::default();
        assert!(m.add(b"", 1));
        assert!(!m.add(b"", 1));
        assert!(!m.add(b"", 2));
        m.add(b"x", 3);
        assert_eq!(matching(&m, b""), vec![1, 2]);
        assert_eq!(matching(&m, b"xy"), vec![1, 2, 3]);
        assert_eq!(m.remove(b"", 3), Removed::NotFound);
        assert_eq!(m.remove(b"", 1), Removed::OthersRemain);
        let mut gone = Vec::new();
        m.remove_pipe(2, |t, last| gone.push((t.to_vec(), last)));
        assert_eq!(gone, vec![(Vec::new(), true)]);
        assert_eq!(matching(&m, b"xy"), vec![3]);
        assert_eq!(m.remove(b"", 2), Removed::NotFound);
        assert!(m.add(b"", 4), "new again after the last one left");
        assert_eq!(matching(&m, b"q"), vec![4]);
    }

    #[test]
    fn prefix_map_matches_every_prefix_length() {
        let mut m = PrefixMap::default();
        m.add(b"", 1);
        m.add(b"ab", 2);
        m.add(b"abc", 3);
        m.add(b"abd", 4);
        m.add(b"abcdef", 5);
        assert_eq!(matching(&m, b"abc"), vec![1, 2, 3]);
        assert_eq!(matching(&m, b"abdx"), vec![1, 2, 4]);
        assert_eq!(matching(&m, b"abcdefg"), vec![1, 2, 3, 5]);
        assert_eq!(matching(&m, b""), vec![1]);
        assert_eq!(matching(&m, b"zzz"), vec![1]);
    }

    #[test]
    fn removing_a_pipe_reports_its_topics() {
        let mut m = PrefixMap::default();
        m.add(b"a", 1);
        m.add(b"b", 1);
        m.add(b"b", 2);
        let mut seen = Vec::new();
        m.remove_pipe(1, |t, last| seen.push((t.to_vec(), last)));
        seen.sort();
        assert_eq!(seen, vec![(b"a".to_vec(), true), (b"b".to_vec(), false)]);
        assert_eq!(matching(&m, b"a"), Vec::<PipeId>::new());
        assert_eq!(matching(&m, b"b"), vec![2]);
        m.remove_pipe(1, |_, _| panic!("nothing left for pipe 1"));
        assert_eq!(m.remove(b"b", 2), Removed::Last);
    }
}
