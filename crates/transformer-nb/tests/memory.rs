//! What a model holds, counted two ways: the summary's parameter counts against HF's, and the
//! activation estimate against the bytes a real forward pass allocates (counted by a global
//! allocator that tracks the peak).

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use util::{minilm, tiny_bert};

/// The system allocator, counting the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The measurement needs the process to itself: tests in this file take turns.
static ALONE: Mutex<()> = Mutex::new(());

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `alloc` hold for `System.alloc`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f` beyond what was live before it, and its result.
fn peak_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = f();
    (PEAK.load(Ordering::Relaxed) - before, result)
}

#[test]
fn the_summary_counts_parameters_as_hf_does() {
    let _alone = ALONE.lock().unwrap();
    let (_dir, bert) = tiny_bert();
    let summary = bert.summary();
    let names: Vec<&str> = summary.modules().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "embeddings",
            "encoder.layer.0.attention",
            "encoder.layer.0.intermediate",
            "encoder.layer.0.output",
            "encoder.layer.1.attention",
            "encoder.layer.1.intermediate",
            "encoder.layer.1.output",
            "pooler",
        ]
    );
    // hidden 16, 4 heads, intermediate 32, 15 words, 32 positions, 2 token types.
    let counts: Vec<usize> = summary.modules().iter().map(|m| m.parameters).collect();
    assert_eq!(counts, [816, 1120, 544, 560, 1120, 544, 560, 272]);
    assert_eq!(summary.total_parameters(), 5536);
    assert_eq!(summary.total_bytes(), 5536 * 4);
    assert!(summary.modules().iter().all(|m| m.dtype == "f32"));
    // The kernels pad each packed matrix to whole 32-column panels.
    assert!(summary.held_bytes() >= summary.total_bytes());
    let text = summary.to_string();
    assert!(text.contains("total") && text.contains("5,536"), "{text}");
}

#[test]
fn minilm_has_hf_s_parameter_count_real_model() {
    let _alone = ALONE.lock().unwrap();
    let summary = minilm().summary();
    // sum(p.numel() for p in AutoModel.from_pretrained(...).parameters()) in HF transformers.
    assert_eq!(summary.total_parameters(), 22_713_216);
    assert_eq!(summary.modules().len(), 1 + 6 * 3 + 1);
    let html = summary.to_html();
    assert!(
        html.contains("22,713,216") && html.contains("90.9 MB"),
        "{html}"
    );
    // 384 and 1536 are whole panels: the held bytes are the parameters' exactly.
    assert_eq!(summary.held_bytes(), summary.total_bytes());
}

#[test]
fn the_activation_estimate_is_close_to_what_a_forward_allocates() {
    let _alone = ALONE.lock().unwrap();
    let (_dir, bert) = tiny_bert();
    let texts = vec!["i read a good novel . the cat read the novel ."; 8];
    let batch = bert.tokenizer().encode_batch(&texts).unwrap();
    let seq = batch.seq_len();
    let (measured, out) = peak_of(|| bert.forward_batch(&batch).unwrap());
    drop(out);
    let estimate = bert.activation_bytes(8, seq).unwrap();
    let ratio = measured as f64 / estimate as f64;
    println!("tiny 8 x {seq}: estimate {estimate} B, measured {measured} B, ratio {ratio:.3}");
    assert!(
        (0.8..1.25).contains(&ratio),
        "measured / estimate = {ratio:.3}"
    );
}

#[test]
fn the_activation_estimate_for_minilm_8_x_128_real_model() {
    let _alone = ALONE.lock().unwrap();
    let bert = minilm();
    let texts = vec!["the ".repeat(126); 8];
    let batch = bert.tokenizer().encode_batch(&texts).unwrap();
    assert_eq!(batch.seq_len(), 128);
    let (measured, out) = peak_of(|| bert.forward_batch(&batch).unwrap());
    drop(out);
    let estimate = bert.activation_bytes(8, 128).unwrap();
    let ratio = measured as f64 / estimate as f64;
    println!("MiniLM 8 x 128: estimate {estimate} B, measured {measured} B, ratio {ratio:.3}");
    assert!(
        (0.8..1.25).contains(&ratio),
        "measured / estimate = {ratio:.3}"
    );
}
