//! The allocator's one knob the gateway turns: handing memory freed by a large request back to
//! the operating system at once.
//!
//! mimalloc keeps the pages a thread freed in that thread's heap and returns them to the system
//! only when the same thread allocates again later; a worker that answered a burst of megabyte
//! requests and then sat idle kept tens of megabytes. After a request with a large body (rare:
//! the official SDKs send a few kilobytes), the thread that handled it collects its heap.

/// Collects the calling thread's heap (and what other threads abandoned), returning free pages
/// to the system. With another global allocator (the tests' binary), it has nothing to do.
#[allow(unsafe_code)]
pub fn collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time; it
    // only frees what the allocator itself holds unused.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
