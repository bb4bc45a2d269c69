//! A hint to the processor: start loading the cache lines of a value that
//! the loop will read soon. Large runs touch node records, payloads and
//! timer slots scattered over tens of megabytes; asking for the next event's
//! lines while the current event is handled overlaps those misses with work.
//!
//! A prefetch never faults and changes no value, only timing. On other
//! architectures than x86-64 it does nothing.

/// Asks for every cache line of `*r` (for values of up to four lines).
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    lines((r as *const T).cast(), std::mem::size_of::<T>());
}

/// Asks for every cache line of `s` (up to four lines).
#[inline(always)]
pub fn prefetch_slice<T>(s: &[T]) {
    lines(s.as_ptr().cast(), std::mem::size_of_val(s));
}

/// The lines of the `bytes` bytes at `p`, rounded up to a whole line, at
/// most four; nothing for an empty value.
#[inline(always)]
fn lines(p: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        if bytes == 0 {
            return;
        }
        let p = p.cast::<i8>();
        // A value that straddles a line boundary touches one more line.
        let lines = (bytes + (p as usize & 63)).div_ceil(64).clamp(1, 4);
        for k in 0..lines {
            // SAFETY: a prefetch reads no memory architecturally and never
            // faults; `p + 64k` stays within the value's lines.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * k));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes);
}
