//! The outgoing byte queue: small frames are packed into one contiguous
//! batch, large bodies are queued by reference and written with vectored I/O.

use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Bodies at least this long are queued by reference instead of copied.
pub const ZERO_COPY_THRESHOLD: usize = 8 * 1024;

const BATCH_CAPACITY: usize = 64 * 1024;

/// Bytes waiting to be written, in order: frozen chunks then the open batch.
///
/// ```
/// use ferromq_proto::OutBuf;
/// use bytes::Bytes;
/// let mut out = OutBuf::new();
/// out.batch().extend_from_slice(b"\x00\x01");
/// out.push_shared(Bytes::from_static(b"x"));
/// let mut slices = [std::io::IoSlice::new(&[]); 4];
/// let n = out.io_slices(&mut slices);
/// assert_eq!(n, 2);
/// out.advance(3);
/// assert!(out.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct OutBuf {
    chunks: VecDeque<Bytes>,
    batch: BytesMut,
    /// Bytes in `chunks` (the batch counts itself).
    len: usize,
}

impl OutBuf {
    /// An empty queue.
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// The open batch, to append small encoded frames to.
    #[inline]
    pub fn batch(&mut self) -> &mut BytesMut {
        if self.batch.capacity() == 0 {
            self.batch.reserve(BATCH_CAPACITY);
        }
        &mut self.batch
    }

    /// Queues `data` without copying it, after everything queued so far.
    pub fn push_shared(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.freeze_batch();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    fn freeze_batch(&mut self) {
        if !self.batch.is_empty() {
            let frozen = self.batch.split().freeze();
            self.len += frozen.len();
            self.chunks.push_back(frozen);
        }
    }

    /// Total bytes waiting.
    pub fn len(&self) -> usize {
        self.len + self.batch.len()
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `dst` with slices of the waiting bytes, in order; returns how
    /// many slices were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in &self.chunks {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(chunk);
            n += 1;
        }
        if n < dst.len() && !self.batch.is_empty() {
            dst[n] = IoSlice::new(&self.batch);
            n += 1;
        }
        n
    }

    /// The first contiguous run of waiting bytes (for a plain `write`).
    pub fn first_chunk(&self) -> &[u8] {
        match self.chunks.front() {
            Some(chunk) => chunk,
            None => &self.batch,
        }
    }

    /// Drops the first `n` bytes (they were written).
    ///
    /// # Panics
    /// If `n` exceeds [`len`](OutBuf::len).
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len(), "advance past the end of the output queue");
        while n > 0 {
            match self.chunks.front_mut() {
                Some(chunk) if chunk.len() <= n => {
                    n -= chunk.len();
                    self.len -= chunk.len();
                    self.chunks.pop_front();
                }
                Some(chunk) => {
                    chunk.advance(n);
                    self.len -= n;
                    return;
                }
                None => {
                    self.batch.advance(n);
                    return;
                }
            }
        }
        if self.is_empty() {
            // Reuse the allocation from the start rather than creeping along it.
            self.batch.clear();
        }
    }

    /// Copies everything waiting into one vector and empties the queue
    /// (for tests and simple callers).
    pub fn take_all(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for chunk in self.chunks.drain(..) {
            out.extend_from_slice(&chunk);
        }
        out.extend_from_slice(&self.batch);
        self.batch.clear();
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_kept_across_batches_and_shared_chunks() {
        let mut out = OutBuf::new();
        out.batch().extend_from_slice(b"ab");
        out.push_shared(Bytes::from_static(b"cd"));
        out.batch().extend_from_slice(b"ef");
        out.push_shared(Bytes::from_static(b"gh"));
        out.batch().extend_from_slice(b"ij");
        assert_eq!(out.len(), 10);
        out.advance(3);
        assert_eq!(out.first_chunk(), b"d");
        let mut slices = [IoSlice::new(&[]); 8];
        let n = out.io_slices(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(joined, b"defghij");
        assert_eq!(out.take_all(), b"defghij");
        assert!(out.is_empty());
    }
}
