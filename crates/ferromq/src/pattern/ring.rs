//! The rotation both the load balancer and the fair queue use: pipes in
//! attach order, scanned from where the last pick left off.

use super::PipeId;

#[derive(Default)]
pub(crate) struct Ring {
    ids: Vec<PipeId>,
    next: usize,
}

impl Ring {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.ids.push(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        if let Some(pos) = self.ids.iter().position(|&p| p == id) {
            self.ids.remove(pos);
            // Keep pointing at the pipe that was next, or wrap around.
            if pos < self.next {
                self.next -= 1;
            }
            if self.next >= self.ids.len() {
                self.next = 0;
            }
        }
    }

    /// Scans once around the ring from the rotation point; the first pipe
    /// for which `f` yields a value becomes the last served, and the next
    /// scan starts after it.
    pub(crate) fn pick<T>(
        &mut self,
        mut f: impl FnMut(PipeId) -> Option<T>,
    ) -> Option<(PipeId, T)> {
        let n = self.ids.len();
        // Wrapping by comparison: a modulo (a division) per pick showed up
        // in the single-peer send/recv profile.
        let mut idx = self.next;
        for _ in 0..n {
            if idx >= n {
                idx = 0;
            }
            let id = self.ids[idx];
            idx += 1;
            if let Some(value) = f(id) {
                self.next = if idx == n { 0 } else { idx };
                return Some((id, value));
            }
        }
        None
    }

    /// Whether any pipe satisfies `f` (does not rotate).
    pub(crate) fn any(&self, f: impl FnMut(&PipeId) -> bool) -> bool {
        self.ids.iter().any(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_survives_detach() {
        let mut ring = Ring::default();
        for id in 1..=3 {
            ring.attach(id);
        }
        let order: Vec<PipeId> = (0..4).map(|_| ring.pick(Some).unwrap().0).collect();
        assert_eq!(order, [1, 2, 3, 1]);
        // Next up is 2; removing 1 (behind it) keeps 2 next.
        ring.detach(1);
        assert_eq!(ring.pick(Some).unwrap().0, 2);
        // Removing the last entry while it is next wraps to the start.
        ring.detach(3);
        assert_eq!(ring.pick(Some).unwrap().0, 2);
        assert_eq!(ring.pick(|id| (id != 2).then_some(())), None);
        ring.detach(2);
        assert!(ring.pick(Some).is_none());
    }
}
