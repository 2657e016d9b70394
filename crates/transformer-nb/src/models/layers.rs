//! The building blocks the decoders share, on the crate's kernels: linear layers whose weights
//! are packed f32 or quantized blocks, embeddings, RMSNorm and LayerNorm, rotary position
//! embeddings, and causal attention over a key/value cache (grouped-query when a model has
//! fewer key/value heads than query heads).

use rayon::prelude::*;

use super::decoder::ModuleInfo;
use crate::kernels::gemm::{Output, PackedB, gemm, gemm_view};
use crate::kernels::quant::{QuantMatrix, dot};
use crate::kernels::{Isa, StridedMut, math};

/// Below this many multiply-adds attention runs its heads on the calling thread.
const ATTENTION_PARALLEL_MIN: usize = 1 << 16;

/// From this many new rows on (a prompt, not a decoding step), attention multiplies whole
/// matrices per head instead of taking one dot product per query and key.
const ATTENTION_GEMM_MIN_ROWS: usize = 8;

/// A weight matrix `[n_out, k_in]` in the format the model runs in.
pub(crate) enum Weight {
    /// f32, packed for the matrix kernel (the fastest for many rows).
    Packed(PackedB),
    /// ggml blocks (Q4_0, Q4_1, Q8_0), dequantized row by row inside the product.
    Quant(QuantMatrix),
    /// f32, row-major `[n_out, k_in]` (a tied embedding table, read by rows and by products).
    Rows {
        /// The values.
        values: Vec<f32>,
        /// `k_in`.
        cols: usize,
    },
}

impl Weight {
    /// `(n_out, k_in)`.
    pub(crate) fn shape(&self) -> (usize, usize) {
        match self {
            Weight::Packed(p) => (p.n(), p.k()),
            Weight::Quant(q) => (q.rows(), q.cols()),
            Weight::Rows { values, cols } => (values.len() / cols.max(&1), *cols),
        }
    }

    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            Weight::Packed(p) => p.held_bytes(),
            Weight::Quant(q) => q.held_bytes(),
            Weight::Rows { values, .. } => values.capacity() * 4,
        }
    }

    /// The number format, for summaries: "f32", "Q4_1", ...
    pub(crate) fn format(&self) -> String {
        match self {
            Weight::Quant(q) => q.kind().to_string(),
            _ => "f32".to_string(),
        }
    }

    /// Row `r` as f32 into `out` (for `Rows` and `Quant`; an embedding lookup).
    pub(crate) fn row(&self, r: usize, out: &mut [f32]) {
        match self {
            Weight::Quant(q) => q.dequantize_row(r, out),
            Weight::Rows { values, cols } => out.copy_from_slice(&values[r * cols..(r + 1) * cols]),
            Weight::Packed(_) => unreachable!("embeddings are never packed"),
        }
    }

    /// `out[rows × n] = x[rows × k] · Wᵀ`.
    pub(crate) fn apply(&self, isa: Isa, x: &[f32], rows: usize, out: &mut [f32]) {
        let (n, k) = self.shape();
        match self {
            Weight::Packed(p) => {
                let output = Output {
                    bias: None,
                    accumulate: false,
                };
                gemm(isa, x, k, rows, p, output, out, n, true);
            }
            Weight::Quant(q) => q.matmul(isa, x, rows, out),
            Weight::Rows { values, .. } => {
                let task = |(r, column): (usize, &mut [f32])| {
                    let w = &values[r * k..(r + 1) * k];
                    for (o, xi) in column.iter_mut().zip(x.chunks_exact(k)) {
                        *o = dot(isa, w, xi);
                    }
                };
                let mut out_t = vec![0.0f32; n * rows];
                out_t.par_chunks_mut(rows).enumerate().for_each(task);
                for (r, column) in out_t.chunks_exact(rows).enumerate() {
                    for (i, &v) in column.iter().enumerate() {
                        out[i * n + r] = v;
                    }
                }
            }
        }
    }
}

/// A `Linear` (or GPT-2's `Conv1D`): a weight and an optional bias.
pub(crate) struct Linear {
    pub weight: Weight,
    pub bias: Option<Vec<f32>>,
}

impl Linear {
    pub(crate) fn n_out(&self) -> usize {
        self.weight.shape().0
    }

    pub(crate) fn parameters(&self) -> usize {
        let (n, k) = self.weight.shape();
        n * k + self.bias.as_ref().map_or(0, Vec::len)
    }

    pub(crate) fn held_bytes(&self) -> usize {
        self.weight.held_bytes() + self.bias.as_ref().map_or(0, |b| b.capacity() * 4)
    }

    /// This layer's line of a model summary.
    pub(crate) fn info(&self, name: String) -> ModuleInfo {
        ModuleInfo {
            name,
            parameters: self.parameters(),
            held_bytes: self.held_bytes(),
            format: self.weight.format(),
        }
    }

    /// `x · Wᵀ + b` for `rows` rows of `x`.
    pub(crate) fn forward(&self, isa: Isa, x: &[f32], rows: usize) -> Vec<f32> {
        let n = self.n_out();
        let mut out = vec![0.0f32; rows * n];
        self.weight.apply(isa, x, rows, &mut out);
        if let Some(bias) = &self.bias {
            for row in out.chunks_exact_mut(n) {
                for (o, b) in row.iter_mut().zip(bias) {
                    *o += b;
                }
            }
        }
        out
    }
}

/// Root-mean-square norm (Zhang & Sennrich, 2019), as `LlamaRMSNorm`: `x / sqrt(mean(x²) + eps)
/// · weight`, computed in f32.
pub(crate) struct RmsNorm {
    pub weight: Vec<f32>,
    pub eps: f32,
}

impl RmsNorm {
    /// This norm's line of a model summary.
    pub(crate) fn info(&self, name: String) -> ModuleInfo {
        ModuleInfo {
            name,
            parameters: self.weight.len(),
            held_bytes: self.weight.capacity() * 4,
            format: "f32".into(),
        }
    }

    pub(crate) fn forward(&self, x: &[f32]) -> Vec<f32> {
        let width = self.weight.len();
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(width) {
            let mean_square = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                / width as f64;
            let inv = 1.0 / ((mean_square as f32) + self.eps).sqrt();
            for (v, w) in row.iter_mut().zip(&self.weight) {
                *v = w * (*v * inv);
            }
        }
        out
    }
}

/// `LayerNorm` with a scale and a shift.
pub(crate) struct LayerNorm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub eps: f32,
}

impl LayerNorm {
    /// This norm's line of a model summary.
    pub(crate) fn info(&self, name: String) -> ModuleInfo {
        ModuleInfo {
            name,
            parameters: self.weight.len() + self.bias.len(),
            held_bytes: (self.weight.capacity() + self.bias.capacity()) * 4,
            format: "f32".into(),
        }
    }

    pub(crate) fn forward(&self, isa: Isa, x: &[f32]) -> Vec<f32> {
        let mut out = x.to_vec();
        let width = self.weight.len();
        math::layer_norm(isa, &mut out, width, &self.weight, &self.bias, self.eps);
        out
    }
}

/// Rotary position embeddings (Su et al., 2021), as HF's `LlamaRotaryEmbedding` and
/// `apply_rotary_pos_emb`: dimension `i` of each half of a head is turned by `position ·
/// θ^(−2i/d)` together with dimension `i + d/2` (`rotate_half`).
pub(crate) struct Rope {
    /// `θ^(−2i/d)` for `i < d/2`, in f32 as HF computes it.
    inv_freq: Vec<f32>,
}

impl Rope {
    pub(crate) fn new(head_dim: usize, theta: f32) -> Self {
        // https://github.com/huggingface/transformers/blob/v4.57.1/src/transformers/modeling_rope_utils.py#L113
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        Rope { inv_freq }
    }

    /// `cos` and `sin` of each angle at `position` (`d/2` of each).
    pub(crate) fn angles(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        self.inv_freq
            .iter()
            .map(|&f| {
                let angle = f64::from(position as f32 * f);
                (angle.cos() as f32, angle.sin() as f32)
            })
            .unzip()
    }

    /// Rotates every head of every row of `x` (rows of `heads · head_dim`), row `r` being at
    /// position `first + r`.
    pub(crate) fn apply(&self, x: &mut [f32], heads: usize, head_dim: usize, first: usize) {
        let half = head_dim / 2;
        for (r, row) in x.chunks_exact_mut(heads * head_dim).enumerate() {
            let (cos, sin) = self.angles(first + r);
            for head in row.chunks_exact_mut(head_dim) {
                let (a, b) = head.split_at_mut(half);
                for i in 0..half {
                    let (x1, x2) = (a[i], b[i]);
                    a[i] = x1 * cos[i] - x2 * sin[i];
                    b[i] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }
}

/// One layer's cached keys and values: a row of `kv_heads · head_dim` values per position.
#[derive(Clone, Debug, Default)]
pub(crate) struct LayerCache {
    pub keys: Vec<f32>,
    pub values: Vec<f32>,
}

/// The keys and values of every layer for the positions seen so far: a decoding step runs the
/// new token only and attends over these.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    pub(crate) layers: Vec<LayerCache>,
    pub(crate) len: usize,
}

impl KvCache {
    /// An empty cache for `layers` layers.
    pub(crate) fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); layers],
            len: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the cache holds.
    pub fn held_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.keys.capacity() + l.values.capacity()) * 4)
            .sum()
    }
}

/// The shape of one attention: heads, key/value heads, the width of a head.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Causal scaled dot-product attention of `rows` new queries (`rows × heads·head_dim`, the
/// first at position `past`) over the cached keys and values (`past + rows` positions, the new
/// ones already appended). Query head `h` reads key/value head `h / (heads / kv_heads)`, as
/// HF's `repeat_kv`. Returns the context (`rows × heads·head_dim`) and, when `keep`, each head's
/// probabilities (`heads × rows × (past + rows)`, zero above the diagonal).
pub(crate) fn causal_attention(
    q: &[f32],
    cache: &LayerCache,
    past: usize,
    rows: usize,
    shape: Heads,
    keep: bool,
    isa: Isa,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = shape;
    if rows >= ATTENTION_GEMM_MIN_ROWS {
        return causal_attention_by_products(q, cache, past, rows, shape, keep, isa);
    }
    let total = past + rows;
    let (q_width, kv_width) = (heads * head_dim, kv_heads * head_dim);
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    // Each head: its context columns (rows × head_dim) and its probabilities (rows × total).
    let head = |h: usize| {
        let g = h / group;
        let mut context = vec![0.0f32; rows * head_dim];
        let mut probs = vec![0.0f32; rows * total];
        for r in 0..rows {
            let query = &q[r * q_width + h * head_dim..][..head_dim];
            let visible = past + r + 1;
            let p = &mut probs[r * total..r * total + visible];
            for (j, pj) in p.iter_mut().enumerate() {
                let key = &cache.keys[j * kv_width + g * head_dim..][..head_dim];
                *pj = dot(isa, query, key) * scale;
            }
            let max = p.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0f32;
            for pj in p.iter_mut() {
                *pj = (*pj - max).exp();
                sum += *pj;
            }
            let out = &mut context[r * head_dim..(r + 1) * head_dim];
            for (j, pj) in p.iter_mut().enumerate() {
                *pj /= sum;
                let value = &cache.values[j * kv_width + g * head_dim..][..head_dim];
                for (o, v) in out.iter_mut().zip(value) {
                    *o += *pj * v;
                }
            }
        }
        (context, probs)
    };
    let per_head: Vec<(Vec<f32>, Vec<f32>)> =
        if rows * total * head_dim * heads < ATTENTION_PARALLEL_MIN {
            (0..heads).map(head).collect()
        } else {
            (0..heads).into_par_iter().map(head).collect()
        };
    let mut context = vec![0.0f32; rows * q_width];
    for (h, (ctx, _)) in per_head.iter().enumerate() {
        for r in 0..rows {
            context[r * q_width + h * head_dim..][..head_dim]
                .copy_from_slice(&ctx[r * head_dim..(r + 1) * head_dim]);
        }
    }
    let probs = keep.then(|| per_head.into_iter().flat_map(|(_, p)| p).collect());
    (context, probs)
}

/// [`causal_attention`] for many new rows (a prompt), as BERT's attention runs: per head,
/// `scores = Q · Kᵀ` and `context = P · V` on the matrix kernel, the causal softmax between
/// them over each row's visible prefix (later positions get probability 0, as HF's mask of
/// `-inf` gives). The scores live in one buffer per thread, not one per head.
fn causal_attention_by_products(
    q: &[f32],
    cache: &LayerCache,
    past: usize,
    rows: usize,
    shape: Heads,
    keep: bool,
    isa: Isa,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let Heads {
        heads,
        kv_heads,
        head_dim: d,
    } = shape;
    let total = past + rows;
    let (q_width, kv_width) = (heads * d, kv_heads * d);
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let zeros = vec![0.0f32; total];
    let mut context = vec![0.0f32; rows * q_width];
    let mut probs = keep.then(|| vec![0.0f32; heads * rows * total]);
    let contexts = StridedMut::new(&mut context, rows, q_width, q_width)
        .expect("the context holds rows × heads · head_dim values")
        .column_blocks(d);
    let mut per_head_probs = probs.as_mut().map(|p| p.chunks_exact_mut(rows * total));
    let jobs: Vec<_> = contexts
        .into_iter()
        .enumerate()
        .map(|(h, ctx)| (h, ctx, per_head_probs.as_mut().and_then(Iterator::next)))
        .collect();
    let no_bias = Output {
        bias: None,
        accumulate: false,
    };
    let scratch = || (PackedB::default(), vec![0.0f32; rows * total]);
    let run = |(packed, scores): &mut (PackedB, Vec<f32>),
               (h, ctx, probs): (usize, StridedMut<'_>, Option<&mut [f32]>)| {
        let g = h / group;
        // scores = Q · Kᵀ: B[i][j] = K[j][i].
        packed.pack(&cache.keys[g * d..], d, total, 1, kv_width);
        gemm(
            isa,
            &q[h * d..],
            q_width,
            rows,
            packed,
            no_bias,
            scores,
            total,
            false,
        );
        for (r, row) in scores.chunks_exact_mut(total).enumerate() {
            let visible = past + r + 1;
            let (seen, unseen) = row.split_at_mut(visible);
            math::scaled_masked_softmax(isa, seen, visible, scale, &zeros);
            unseen.fill(0.0);
        }
        // context = P · V: B[i][j] = V[i][j].
        packed.pack(&cache.values[g * d..], total, d, kv_width, 1);
        gemm_view(isa, scores, total, packed, no_bias, ctx, false);
        if let Some(probs) = probs {
            probs.copy_from_slice(scores);
        }
    };
    if rows * total * d * heads < ATTENTION_PARALLEL_MIN {
        let mut buffers = scratch();
        jobs.into_iter().for_each(|job| run(&mut buffers, job));
    } else {
        jobs.into_par_iter()
            .for_each_init(scratch, |buffers, job| run(buffers, job));
    }
    (context, probs)
}

/// SiLU (`x · σ(x)`), in place.
pub(crate) fn silu(values: &mut [f32]) {
    for v in values {
        *v /= 1.0 + (-*v).exp();
    }
}

/// Adds `b` to `a`, elementwise (a residual connection).
pub(crate) fn add(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}
