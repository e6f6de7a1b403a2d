//! What turns a blow-up into a crash: an allocator that counts the bytes one input holds
//! and aborts past a cap, and a watchdog that aborts when one input runs too long.
//!
//! Both abort rather than panic (an allocator must not unwind), after writing the input
//! being run to the file given to [`set_fatal_file`], so that the built-in loop keeps the
//! crashing input; under AFL++ the abort is the crash signal and AFL++ keeps it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The global allocator of every binary that links this crate: [`System`], counting.
pub struct Capped;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Counts `n` more bytes for this thread's input; false when that goes over the cap.
fn charge(n: usize) -> bool {
    ARMED
        .try_with(|armed| {
            if !armed.get() {
                return true;
            }
            let live = LIVE.get().saturating_add(n);
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
            live <= CAP.load(Ordering::Relaxed)
        })
        .unwrap_or(true)
}

fn refund(n: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            LIVE.set(LIVE.get().saturating_sub(n));
        }
    });
}

fn over_cap(size: usize) -> ! {
    let _ = ARMED.try_with(|a| a.set(false));
    let mut buf = [0u8; 160];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(
        cur,
        "an allocation of {size} bytes takes this input over its cap of {} bytes",
        CAP.load(Ordering::Relaxed)
    );
    let n = cur.position() as usize;
    fatal(&buf[..n])
}

// SAFETY: every call is forwarded to `System` unchanged; the counting around it neither
// allocates nor unwinds.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            over_cap(layout.size());
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !charge(layout.size()) {
            over_cap(layout.size());
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            if !charge(new_size - layout.size()) {
                over_cap(new_size);
            }
        } else {
            refund(layout.size() - new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with this thread's allocations counted from zero and held to `cap` bytes
/// live at once; returns its result and the peak.
pub fn capped<R>(cap: usize, f: impl FnOnce() -> R) -> (R, usize) {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.with(|a| a.set(false));
        }
    }
    CAP.store(cap, Ordering::Relaxed);
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ARMED.with(|a| a.set(true));
    let disarm = Disarm;
    let r = f();
    drop(disarm);
    (r, PEAK.with(Cell::get))
}

/// Stops counting on this thread (a panic hook calls it before it formats anything).
pub fn disarm() {
    let _ = ARMED.try_with(|a| a.set(false));
}

static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static FATAL_FILE: OnceLock<File> = OnceLock::new();
/// Milliseconds since [`EPOCH`] when the current input started; 0 when none runs.
static STARTED_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Where [`fatal`] writes the input that was running (opened now, so that writing it
/// later needs no allocation).
pub fn set_fatal_file(file: File) {
    let _ = FATAL_FILE.set(file);
}

/// Marks `input` as the one running (for [`fatal`] and the watchdog) until [`done`].
/// The caller keeps `input` alive until then.
pub fn running(input: &[u8]) {
    INPUT_LEN.store(input.len(), Ordering::SeqCst);
    INPUT.store(input.as_ptr() as *mut u8, Ordering::SeqCst);
    let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64;
    STARTED_MS.store(now.max(1), Ordering::SeqCst);
}

/// The input marked by [`running`] has finished.
pub fn done() {
    STARTED_MS.store(0, Ordering::SeqCst);
    INPUT.store(std::ptr::null_mut(), Ordering::SeqCst);
}

/// Writes `why` to stderr and the running input to the fatal file, then aborts.
pub fn fatal(why: &[u8]) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\nexemplar-fuzz: FATAL: ");
    let _ = err.write_all(why);
    let _ = err.write_all(b"\n");
    let ptr = INPUT.load(Ordering::SeqCst);
    if let (Some(mut file), false) = (FATAL_FILE.get(), ptr.is_null()) {
        // SAFETY: `running` stored a live slice; its owner is blocked in the target
        // (this thread, or the one the watchdog watches) until `done`.
        let input = unsafe { std::slice::from_raw_parts(ptr, INPUT_LEN.load(Ordering::SeqCst)) };
        let _ = file.write_all(input);
        let _ = file.flush();
    }
    std::process::abort()
}

/// Starts a thread that aborts (through [`fatal`]) when one input runs longer than
/// `limit`.
pub fn start_watchdog(limit: Duration) {
    let epoch = *EPOCH.get_or_init(Instant::now);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        let started = STARTED_MS.load(Ordering::SeqCst);
        let now = epoch.elapsed().as_millis() as u64;
        if started != 0 && now.saturating_sub(started) > limit.as_millis() as u64 {
            fatal(b"one input ran longer than the watchdog's limit (a hang)");
        }
    });
}
