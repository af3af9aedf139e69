//! What every fuzz target shares: the libFuzzer entry, and an allocator that turns an
//! allocation over [`ALLOCATION_LIMIT`] into a crash. libFuzzer's own `-malloc_limit_mb` needs
//! a sanitizer's allocator hooks, which a stable-toolchain build does not have.

use std::alloc::{GlobalAlloc, Layout, System};

/// No parser should ask for this much at once for inputs of a few kilobytes.
pub const ALLOCATION_LIMIT: usize = 256 << 20;

/// The system allocator, refusing single allocations over [`ALLOCATION_LIMIT`] by aborting
/// (which libFuzzer reports as a crash and saves the input for).
pub struct LimitedAllocator;

// SAFETY: forwards every call to the system allocator unchanged, or aborts before it.
unsafe impl GlobalAlloc for LimitedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn check(size: usize) {
    if size > ALLOCATION_LIMIT {
        // eprintln! writes straight to the unbuffered stderr: nothing is allocated here.
        eprintln!("==agentbox-fuzz== an allocation over the limit ({size} bytes); aborting");
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: LimitedAllocator = LimitedAllocator;

/// Defines the libFuzzer entry of a target binary: `target!(agentbox::fuzz::gguf_header);`.
#[macro_export]
macro_rules! target {
    ($entry:path) => {
        ::libfuzzer_sys::fuzz_target!(|data: &[u8]| $entry(data));
    };
}
