//! Transparent huge pages for the packed weights.
//!
//! With one short sentence a forward pass streams every weight once, and reading memory is its
//! bound. In 4 KiB pages that stream needs a page walk every 4 KiB (a model's hundreds of MB
//! are far beyond the TLB's reach); in 2 MiB pages, one every 2 MiB. Linux gives anonymous
//! memory huge pages either always or, the common default (`madvise`), where a program asks for
//! them, as here. Only the whole 2 MiB blocks inside a buffer are asked for, so no page
//! outgrows the buffer and resident memory stays the same.

/// Huge pages' size on x86-64 Linux.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MiB blocks of `buffer`'s capacity with huge pages.
/// Call it before the capacity is first written: pages are chosen when first touched. A hint:
/// returns whether the kernel took it (false where there is no such block, on other systems,
/// or with transparent huge pages off); the contents never change.
pub(crate) fn advise<T>(buffer: &mut Vec<T>) -> bool {
    let start = buffer.as_mut_ptr() as usize;
    let end = start + buffer.capacity() * size_of::<T>();
    let first = start.next_multiple_of(HUGE_PAGE);
    let last = end / HUGE_PAGE * HUGE_PAGE;
    last > first && madvise_hugepage(first, last - first)
}

#[cfg(target_os = "linux")]
fn madvise_hugepage(address: usize, len: usize) -> bool {
    // <linux/mman.h>; std links the C library, whose `madvise` this is.
    const MADV_HUGEPAGE: i32 = 14;
    unsafe extern "C" {
        fn madvise(address: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    // SAFETY: the range is page-aligned and lies inside one live allocation; this advice only
    // changes how the kernel backs it, never what it holds.
    unsafe { madvise(address as *mut std::ffi::c_void, len, MADV_HUGEPAGE) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn madvise_hugepage(_address: usize, _len: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffers_are_left_alone() {
        let mut buffer = Vec::<f32>::with_capacity(1000);
        assert!(!advise(&mut buffer));
        let mut empty = Vec::<u32>::new();
        assert!(!advise(&mut empty));
    }

    #[test]
    fn a_large_buffer_is_advised_and_keeps_its_values() {
        let mut buffer = Vec::<f32>::with_capacity(3 * HUGE_PAGE);
        let taken = advise(&mut buffer);
        // Where the kernel has transparent huge pages, it accepts a correctly aligned range
        // (a misaligned one is refused with EINVAL).
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|modes| !modes.contains("[never]"));
        if cfg!(target_os = "linux") && thp {
            assert!(taken, "madvise refused the range");
        }
        buffer.extend((0..3 * HUGE_PAGE).map(|i| i as f32));
        assert!(buffer.iter().enumerate().all(|(i, &v)| v == i as f32));
    }
}
