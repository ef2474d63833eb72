//! Batch buffers the augment workers write samples straight into, so no sample is copied on its
//! way into a batch.
//!
//! Buffer `k` of an epoch holds the positions `k·B .. (k+1)·B` of its order (`B` the batch
//! size), a slot each. Until a sample is skipped, position `p` is also the `p`-th sample out,
//! so batch `k` is buffer `k` as its workers left it. After a skip, the batch stage moves each
//! later sample from its own slot to that of its place out (an earlier position, whose sample
//! has already gone out), so batch `j` is still buffer `j`.
//!
//! Who touches a slot when: the augment worker of position `p` writes slot `p` once (each
//! position occurs once in an epoch's order), then sends its message for `p`; the batch stage
//! reads or writes slot `p` only after that message arrived (the channel orders the write
//! before the read), and takes a buffer out only once every position in it has arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossbeam::channel::Receiver;

use crate::prefault::populate;

/// An epoch's batch buffers by index, created on first use.
#[derive(Debug)]
pub(super) struct BatchSlots {
    batch_size: usize,
    sample_len: usize,
    buffers: Mutex<HashMap<usize, Arc<SlotBuffer>>>,
    /// Buffers of consumed batches, reused before fresh ones are allocated.
    recycled: Receiver<Vec<f32>>,
}

impl BatchSlots {
    pub(super) fn new(
        batch_size: usize,
        sample_len: usize,
        recycled: Receiver<Vec<f32>>,
    ) -> BatchSlots {
        BatchSlots {
            batch_size,
            sample_len,
            buffers: Mutex::new(HashMap::new()),
            recycled,
        }
    }

    /// The slot of position `pos`, for the augment worker of that position to write.
    ///
    /// # Safety
    /// Only the one worker that processes position `pos` in this epoch may call this, once,
    /// and it must drop the writer before it sends its message for `pos` on to the batch stage.
    #[allow(unsafe_code)]
    pub(super) unsafe fn slot_for_worker(&self, pos: usize) -> SlotWriter {
        let mut writer = SlotWriter {
            buffer: self.buffer(pos / self.batch_size),
            start: (pos % self.batch_size) * self.sample_len,
            len: self.sample_len,
        };
        if writer.buffer.fresh {
            // Each worker maps its own slot's pages, in one call and beside the others, rather
            // than one thread mapping a whole fresh buffer while the rest wait for it.
            populate(writer.values());
        }
        writer
    }

    /// Moves the sample at position `from` to the slot of position `to`, for the batch stage.
    ///
    /// # Safety
    /// `to < from`, and the messages of both positions have arrived at the calling thread,
    /// the only one that reads or writes arrived positions' slots.
    #[allow(unsafe_code)]
    pub(super) unsafe fn move_sample(&self, from: usize, to: usize) {
        let (src, dst) = (
            self.buffer(from / self.batch_size),
            self.buffer(to / self.batch_size),
        );
        let len = self.sample_len;
        let (s, d) = ((from % self.batch_size) * len, (to % self.batch_size) * len);
        // SAFETY: both positions have arrived, so their workers write their slots no more,
        // and only this thread touches them now (the contract). The two ranges are distinct
        // slots (`to < from`), so they do not overlap even within one buffer; both lie within
        // their buffers (a slot index is below the batch size).
        unsafe {
            std::ptr::copy_nonoverlapping(src.ptr().add(s), dst.ptr().add(d), len);
        }
    }

    /// The sample in the slot of position `pos`, for the batch stage.
    ///
    /// # Safety
    /// The message of position `pos` has arrived at the calling thread, the only one that
    /// reads or writes arrived positions' slots.
    #[allow(unsafe_code)]
    pub(super) unsafe fn with_sample<R>(&self, pos: usize, f: impl FnOnce(&[f32]) -> R) -> R {
        let buffer = self.buffer(pos / self.batch_size);
        let start = (pos % self.batch_size) * self.sample_len;
        // SAFETY: position `pos` has arrived, so its worker writes the slot no more, and only
        // this thread touches it now (the contract); the slot lies within the buffer.
        let sample =
            unsafe { std::slice::from_raw_parts(buffer.ptr().add(start), self.sample_len) };
        f(sample)
    }

    /// Takes buffer `k` out, its first `samples` slots kept, once every position in it has
    /// arrived (no worker holds it then: a panic otherwise).
    pub(super) fn take(&self, k: usize, samples: usize) -> Vec<f32> {
        // Every sample of the batch was written in buffer `k` or moved there, which creates
        // it; only the worker of a position in it clones it besides the map, and drops its
        // clone before sending; the batch stage's own clones end with each call.
        let buffer = self.lock().remove(&k).and_then(Arc::into_inner);
        let Some(SlotBuffer { mut values, .. }) = buffer else {
            panic!("batch buffer {k} is missing or still shared when its batch is taken");
        };
        values.truncate(samples * self.sample_len);
        values
    }

    /// Drops buffer `k`, whose positions have all arrived and none of whose slots a batch
    /// still needs.
    pub(super) fn discard(&self, k: usize) {
        self.lock().remove(&k);
    }

    /// Buffer `k`, created (from a recycled one where there is one) on first use.
    fn buffer(&self, k: usize) -> Arc<SlotBuffer> {
        self.lock()
            .entry(k)
            .or_insert_with(|| Arc::new(self.new_buffer()))
            .clone()
    }

    /// A new buffer: a recycled one where there is one.
    fn new_buffer(&self) -> SlotBuffer {
        let n = self.batch_size * self.sample_len;
        match self.recycled.try_recv() {
            // A recycled buffer's pages are mapped already: no fresh tens of MB for the kernel
            // to zero per batch.
            Ok(mut values) => {
                values.resize(n, 0.0);
                SlotBuffer::new(values, false)
            }
            // Zeroed memory straight from the allocator, which its pages may not back yet: the
            // workers map them slot by slot (`slot_for_worker`).
            Err(_) => SlotBuffer::new(vec![0.0f32; n], true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Arc<SlotBuffer>>> {
        self.buffers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The slot an augment worker writes its sample into; dropped before it sends its message.
pub(super) struct SlotWriter {
    buffer: Arc<SlotBuffer>,
    /// The slot's first float and its length.
    start: usize,
    len: usize,
}

impl SlotWriter {
    /// The slot's floats.
    pub(super) fn values(&mut self) -> &mut [f32] {
        #[allow(unsafe_code)]
        // SAFETY: `slot_for_worker`'s contract gives this writer the only access to its slot
        // until it is dropped; the slot lies within the buffer (its index is below the batch
        // size).
        unsafe {
            std::slice::from_raw_parts_mut(self.buffer.ptr().add(self.start), self.len)
        }
    }
}

/// One batch buffer whose slots different threads write, each its own.
#[derive(Debug)]
struct SlotBuffer {
    /// Never read or resized while shared: reached only through `start`.
    values: Vec<f32>,
    /// The start of `values`' floats, which stay where they are while the Vec is kept.
    start: *mut f32,
    /// Fresh from the allocator (its pages maybe not mapped yet), not recycled.
    fresh: bool,
}

impl SlotBuffer {
    fn new(mut values: Vec<f32>, fresh: bool) -> SlotBuffer {
        let start = values.as_mut_ptr();
        SlotBuffer {
            values,
            start,
            fresh,
        }
    }

    fn ptr(&self) -> *mut f32 {
        self.start
    }
}

#[allow(unsafe_code)]
// SAFETY: the floats are only reached through `start`, slot by slot, under the protocol of the
// module's documentation (one writer per slot, reads ordered after it by a channel); the Vec
// itself is only taken out (`take`) once no other thread holds the buffer.
unsafe impl Send for SlotBuffer {}
#[allow(unsafe_code)]
// SAFETY: as for `Send`.
unsafe impl Sync for SlotBuffer {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// How many of the 4 KiB pages wholly inside `v` are mapped.
    fn resident_pages(v: &[f32]) -> usize {
        const PAGE: usize = 4096;
        let start = (v.as_ptr() as usize).next_multiple_of(PAGE);
        let end = (v.as_ptr() as usize + std::mem::size_of_val(v)) & !(PAGE - 1);
        let mut residency = vec![0u8; (end - start) / PAGE];
        #[allow(unsafe_code)]
        // SAFETY: `start..end` lies within `v`'s allocation; mincore writes one byte per page
        // of it into `residency`, which has that many.
        let rc = unsafe {
            libc::mincore(
                start as *mut libc::c_void,
                end - start,
                residency.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "mincore failed");
        residency.iter().filter(|&&r| r & 1 == 1).count()
    }

    /// A fresh buffer's slot is mapped by the worker of its position, not the whole buffer by
    /// whichever worker came first (while the others waited for it).
    #[test]
    fn a_worker_maps_its_own_slot_of_a_fresh_buffer_and_no_other() {
        let (_keep, recycled) = crossbeam::channel::bounded(1);
        // 16 MiB a slot, 64 MiB in all: more than the system allocator ever serves from memory
        // it has touched (glibc maps each zeroed allocation over 32 MiB fresh from the kernel).
        let (batch_size, sample_len) = (4, 1 << 22);
        let slots = BatchSlots::new(batch_size, sample_len, recycled);
        #[allow(unsafe_code)]
        // SAFETY: this thread is the only one that touches position 1, once.
        let mut writer = unsafe { slots.slot_for_worker(1) };
        let own = resident_pages(writer.values());
        let pages = sample_len * 4 / 4096;
        assert!(own + 1 >= pages, "{own} of the slot's {pages} pages mapped");
        let buffer = writer.buffer.clone();
        drop(writer);
        #[allow(unsafe_code)]
        // SAFETY: no writer is left; the buffer's floats are only read.
        let all = unsafe { std::slice::from_raw_parts(buffer.ptr(), batch_size * sample_len) };
        let mapped = resident_pages(all);
        assert!(
            mapped <= pages + 2,
            "{mapped} pages of the buffer mapped for one slot of {pages}"
        );
    }
}
