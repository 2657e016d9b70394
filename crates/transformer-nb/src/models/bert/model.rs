//! The BERT encoder, written out so that every hidden state and attention map can be kept.
//!
//! Mirrors HF transformers' `modeling_bert.py` (eager attention), with the same weight names so
//! that any BERT `model.safetensors` loads: `BertEmbeddings`, `BertSelfAttention` +
//! `BertSelfOutput`, `BertIntermediate` + `BertOutput`, `BertPooler`. candle-transformers has a
//! BERT too, but its `forward` returns the last hidden state only; the tests cross-check the two.
//!
//! The arithmetic runs on the crate's own [`kernels`](crate::kernels) over plain buffers, not
//! on candle ops, because that is what makes it faster than PyTorch on a 2-core machine
//! (`scripts/bench.sh`): the weights are packed for the matrix kernel once, at load; query, key and
//! value are one product; bias, residual, GELU, softmax and layer norm are fused into few
//! passes; buffers are reused across layers and passes. The results come back as the crate's own
//! [`Tensor`]s.

use std::sync::Mutex;

use rayon::prelude::*;

use super::config::{BertConfig, HiddenAct};
use crate::error::{Error, Result};
use crate::kernels::gemm::{Output, PackedB, PackedBf16, gemm, gemm_bf16, gemm_view};
use crate::kernels::pass::run_pass;
use crate::kernels::{Bf16Isa, Isa, KernelTuning, StridedMut, math};
use crate::models::checkpoint::Checkpoint;
use crate::tensor::{Tensor, pool};

/// Rows per parallel task in the row-wise kernels (layer norm, activation): large enough that
/// handing out a task costs little next to it.
const ROWS_PER_TASK: usize = 32;

/// Below this many multiply-adds (over all heads) attention runs on the calling thread.
const ATTENTION_PARALLEL_MIN: usize = 1 << 18;

/// The most f32 values one pass may hold (2^28: 1 GiB), so that a batch a typo too large is an
/// error rather than an allocation failure; BERT-base keeps 8 texts × 256 tokens with every
/// attention map well inside it.
pub(crate) const MAX_ACTIVATION_VALUES: usize = 1 << 28;

/// The most scratch one model keeps between passes (64 MiB: BERT-base's for 8 texts × 256
/// tokens); a larger pass frees its scratch when done, so a one-off big batch does not leave a
/// learner's 4 GiB machine short.
const SCRATCH_KEPT_BYTES: usize = 64 << 20;

/// The buffers a pass works in (query/key/value, attention context, intermediate), kept
/// between passes: a model run again and again (`embed` over many batches, a benchmark, a
/// notebook's repeated cells) would otherwise have the kernel map and zero ~6,000 fresh pages
/// for them on every BERT-base 8 × 128 pass (`scripts/bench.sh`, case BERT-base shape,
/// 8 × 128).
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    context: Vec<f32>,
    inner: Vec<f32>,
}

impl Scratch {
    /// Sizes the buffers for `rows` rows. What they held before stays in them: each is
    /// overwritten whole before it is read.
    fn fit(&mut self, rows: usize, hidden: usize, inner: usize) {
        self.qkv.resize(rows * 3 * hidden, 0.0);
        self.context.resize(rows * hidden, 0.0);
        self.inner.resize(rows * inner, 0.0);
    }

    fn held_bytes(&self) -> usize {
        held(&self.qkv) + held(&self.context) + held(&self.inner)
    }
}

/// A `Linear` layer: the weight packed for the matrix kernels, and the bias.
struct Linear {
    weight: Weight,
    bias: Vec<f32>,
}

/// A packed weight, in the number format the model runs in.
enum Weight {
    F32(PackedB),
    /// Rounded to bfloat16 when the model runs in [`Precision::Bf16`](crate::Precision::Bf16).
    Bf16(PackedBf16),
}

/// What one module's parameters take (see [`BertModel::module_sizes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Parameters as HF counts them.
    pub parameters: usize,
    /// How many of them are held as bfloat16 (the rest are f32).
    pub bf16_parameters: usize,
    /// Bytes held for them, packing and padding included.
    pub held_bytes: usize,
}

impl std::ops::Add for Sizes {
    type Output = Sizes;
    fn add(self, other: Sizes) -> Sizes {
        Sizes {
            parameters: self.parameters + other.parameters,
            bf16_parameters: self.bf16_parameters + other.bf16_parameters,
            held_bytes: self.held_bytes + other.held_bytes,
        }
    }
}

impl Sizes {
    /// f32 parameters held in `values`.
    fn f32(values: &Vec<f32>) -> Sizes {
        Sizes {
            parameters: values.len(),
            bf16_parameters: 0,
            held_bytes: held(values),
        }
    }
}

impl Linear {
    fn sizes(&self) -> Sizes {
        let (k, n) = self.k_n();
        let (bf16_parameters, held_bytes) = match &self.weight {
            Weight::F32(packed) => (0, packed.held_bytes()),
            Weight::Bf16(packed) => (k * n, packed.held_bytes()),
        };
        Sizes {
            parameters: k * n,
            bf16_parameters,
            held_bytes,
        } + Sizes::f32(&self.bias)
    }

    /// Inputs and outputs.
    fn k_n(&self) -> (usize, usize) {
        match &self.weight {
            Weight::F32(packed) => (packed.k(), packed.n()),
            Weight::Bf16(packed) => (packed.k(), packed.n()),
        }
    }

    /// Reads `{prefix}.weight` `[n_out, k_in]` and `{prefix}.bias` `[n_out]`.
    fn read(file: &Checkpoint, prefix: &str, n_out: usize, k_in: usize) -> Result<Self> {
        Self::concat(file, &[prefix], n_out, k_in)
    }

    /// Several `Linear`s over the same input stacked into one (query, key and value).
    fn concat(file: &Checkpoint, prefixes: &[&str], n_out: usize, k_in: usize) -> Result<Self> {
        let mut weight = Vec::with_capacity(prefixes.len() * n_out * k_in);
        let mut bias = Vec::with_capacity(prefixes.len() * n_out);
        for prefix in prefixes {
            weight.extend(file.read(&format!("{prefix}.weight"), &[n_out, k_in])?);
            bias.extend(file.read(&format!("{prefix}.bias"), &[n_out])?);
        }
        Ok(Linear {
            weight: Weight::F32(PackedB::from_weight(&weight, prefixes.len() * n_out, k_in)),
            bias,
        })
    }

    /// Holds the weight as bfloat16 (with `Some`) or as f32 (with `None`; a weight that was
    /// rounded to bfloat16 stays rounded).
    fn set_bf16(&mut self, bf16: Option<Bf16Isa>) {
        self.weight = match (&self.weight, bf16) {
            (Weight::F32(packed), Some(isa)) => Weight::Bf16(PackedBf16::from_f32(packed, isa)),
            (Weight::Bf16(packed), None) => Weight::F32(packed.to_f32()),
            _ => return,
        };
    }

    /// `out (+)= x · Wᵀ + b` for `rows` rows of `x`.
    fn apply(&self, isa: Isa, x: &[f32], rows: usize, out: &mut [f32], accumulate: bool) {
        let output = Output {
            bias: Some(&self.bias),
            accumulate,
        };
        let (k, n) = self.k_n();
        match &self.weight {
            Weight::F32(packed) => gemm(isa, x, k, rows, packed, output, out, n, true),
            Weight::Bf16(packed) => gemm_bf16(
                x,
                k,
                rows,
                packed,
                output,
                out,
                n,
                true,
                KernelTuning::detect(),
            ),
        }
    }
}

/// A `LayerNorm`.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn sizes(&self) -> Sizes {
        Sizes::f32(&self.gamma) + Sizes::f32(&self.beta)
    }

    /// Reads `{prefix}.weight` and `.bias`, or `.gamma` and `.beta`, the TensorFlow-era names
    /// that some original checkpoints (bert-base-uncased among them) still use.
    fn read(file: &Checkpoint, prefix: &str, width: usize, eps: f64) -> Result<Self> {
        let (scale, shift) = if !file.contains(&format!("{prefix}.weight"))
            && file.contains(&format!("{prefix}.gamma"))
        {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(Norm {
            gamma: file.read(&format!("{prefix}.{scale}"), &[width])?,
            beta: file.read(&format!("{prefix}.{shift}"), &[width])?,
            eps: eps as f32,
        })
    }

    /// Normalises every row of `rows` in place.
    fn apply(&self, isa: Isa, rows: &mut [f32]) {
        let width = self.gamma.len();
        for_row_blocks(rows, width, |block| {
            math::layer_norm(isa, block, width, &self.gamma, &self.beta, self.eps)
        });
    }

    /// Normalises every row of `rows + residual`, into `rows`.
    fn apply_after_adding(&self, isa: Isa, rows: &mut [f32], residual: &[f32]) {
        let width = self.gamma.len();
        let block = ROWS_PER_TASK * width;
        let norm = |(rows, residual): (&mut [f32], &[f32])| {
            math::add_layer_norm(
                isa,
                rows,
                residual,
                width,
                &self.gamma,
                &self.beta,
                self.eps,
            )
        };
        if rows.len() <= block {
            norm((rows, residual));
        } else {
            (rows.par_chunks_mut(block))
                .zip(residual.par_chunks(block))
                .for_each(norm);
        }
    }
}

/// Bytes a buffer holds.
fn held(values: &Vec<f32>) -> usize {
    values.capacity() * size_of::<f32>()
}

/// Runs `f` on blocks of whole rows, in parallel when there are many.
fn for_row_blocks(rows: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
    let block = ROWS_PER_TASK * width;
    if rows.len() <= block {
        f(rows);
    } else {
        rows.par_chunks_mut(block).for_each(&f);
    }
}

/// One `BertLayer`.
struct Layer {
    /// Query, key and value stacked: `[3 · hidden, hidden]`.
    qkv: Linear,
    /// `BertSelfOutput.dense`.
    attention_output: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

impl Layer {
    /// See [`BertModel::set_bf16`].
    fn set_bf16(&mut self, bf16: Option<Bf16Isa>) {
        for linear in [
            &mut self.qkv,
            &mut self.attention_output,
            &mut self.intermediate,
            &mut self.output,
        ] {
            linear.set_bf16(bf16);
        }
    }

    fn read(file: &Checkpoint, prefix: &str, config: &BertConfig) -> Result<Self> {
        let (hidden, inner, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.layer_norm_eps,
        );
        let attention = format!("{prefix}.attention");
        Ok(Layer {
            qkv: Linear::concat(
                file,
                &[
                    &format!("{attention}.self.query"),
                    &format!("{attention}.self.key"),
                    &format!("{attention}.self.value"),
                ],
                hidden,
                hidden,
            )?,
            attention_output: Linear::read(
                file,
                &format!("{attention}.output.dense"),
                hidden,
                hidden,
            )?,
            attention_norm: Norm::read(
                file,
                &format!("{attention}.output.LayerNorm"),
                hidden,
                eps,
            )?,
            intermediate: Linear::read(
                file,
                &format!("{prefix}.intermediate.dense"),
                inner,
                hidden,
            )?,
            output: Linear::read(file, &format!("{prefix}.output.dense"), hidden, inner)?,
            output_norm: Norm::read(file, &format!("{prefix}.output.LayerNorm"), hidden, eps)?,
        })
    }
}

/// BERT's masked-language-model head, `cls.predictions`: a dense layer, the activation and a
/// layer norm, then the decoder, whose weight is the word-embedding table (tied) and whose bias
/// is `cls.predictions.bias`.
pub(crate) struct MlmPredictionLayers {
    dense: Linear,
    norm: Norm,
    /// `cls.predictions.decoder.weight` when the file stores it untied; else the embeddings.
    decoder: Option<Vec<f32>>,
    bias: Vec<f32>,
}

impl MlmPredictionLayers {
    /// The prefix every tensor of the head has.
    pub const PREFIX: &str = "cls.predictions";

    pub fn read(file: &Checkpoint, config: &BertConfig) -> Result<Self> {
        let (hidden, vocab) = (config.hidden_size, config.vocab_size);
        let p = Self::PREFIX;
        let decoder_name = format!("{p}.decoder.weight");
        Ok(MlmPredictionLayers {
            dense: Linear::read(file, &format!("{p}.transform.dense"), hidden, hidden)?,
            norm: Norm::read(
                file,
                &format!("{p}.transform.LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
            decoder: if file.contains(&decoder_name) {
                Some(file.read(&decoder_name, &[vocab, hidden])?)
            } else {
                None
            },
            bias: file.read(&format!("{p}.bias"), &[vocab])?,
        })
    }
}

impl BertModel {
    /// Queries and keys of every head of layer `layer` for the hidden states `input` (that
    /// layer's input, `rows × hidden`): `[rows][3 · hidden]`, query, key and value side by side,
    /// heads side by side within each.
    pub fn projections(&self, layer: usize, input: &[f32]) -> Vec<f32> {
        let rows = input.len() / self.hidden;
        let mut qkv = vec![0f32; rows * 3 * self.hidden];
        self.layers[layer]
            .qkv
            .apply(self.isa, input, rows, &mut qkv, false);
        qkv
    }

    /// The head's logits over the vocabulary for each of `rows` hidden states (`hidden` wide,
    /// one after another): `[rows][vocab]`.
    pub fn mlm_logits(&self, head: &MlmPredictionLayers, hidden_states: &[f32]) -> Vec<Vec<f32>> {
        let isa = self.isa;
        let width = self.hidden;
        let rows = hidden_states.len() / width;
        let mut transformed = vec![0f32; rows * width];
        head.dense
            .apply(isa, hidden_states, rows, &mut transformed, false);
        match self.act {
            HiddenAct::Gelu => math::gelu_erf(isa, &mut transformed),
            HiddenAct::GeluApproximate => math::gelu_tanh(isa, &mut transformed),
            HiddenAct::Relu => transformed.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
        head.norm.apply(isa, &mut transformed);
        let table = head.decoder.as_deref().unwrap_or(&self.word_embeddings);
        transformed
            .chunks_exact(width)
            .map(|t| {
                table
                    .par_chunks_exact(width)
                    .zip(&head.bias)
                    .map(|(word, bias)| dot(t, word) + bias)
                    .collect()
            })
            .collect()
    }
}

/// `a · b` with independent partial sums, so the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// What one pass through the encoder produced.
pub(crate) struct Pass {
    /// Embeddings output then each layer's output (or only the last when not collecting).
    pub hidden_states: Vec<Tensor>,
    /// Each layer's attention probabilities (empty when not collecting).
    pub attentions: Vec<Tensor>,
    /// `tanh(W · h[CLS] + b)` when the checkpoint has pooler weights.
    pub pooler_output: Option<Tensor>,
}

/// Token ids, token types and attention mask of a padded batch, `[batch][seq]` each.
pub(crate) struct Inputs<'a> {
    pub ids: &'a [&'a [u32]],
    pub type_ids: &'a [&'a [u32]],
    pub attention_mask: &'a [&'a [u32]],
}

/// `BertModel`: embeddings, encoder layers, optional pooler.
pub(crate) struct BertModel {
    hidden: usize,
    heads: usize,
    head_size: usize,
    inner: usize,
    act: HiddenAct,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    token_type_embeddings: Vec<f32>,
    embeddings_norm: Norm,
    layers: Vec<Layer>,
    pooler: Option<Linear>,
    isa: Isa,
    /// Taken by a pass and given back when it ends; a pass that finds it taken (another
    /// thread's pass) allocates its own.
    scratch: Mutex<Scratch>,
}

impl BertModel {
    /// Reads the weights, whether stored as `embeddings.*` (`BertModel`) or `bert.embeddings.*`
    /// (`BertForPreTraining`, ...); `root` is `""` or `"bert."`. With `bf16`, each layer's
    /// matrices are rounded to bfloat16 as soon as it is read, so that the f32 copies of only
    /// one layer exist at a time.
    pub fn read(
        file: &Checkpoint,
        root: &str,
        config: &BertConfig,
        bf16: Option<Bf16Isa>,
    ) -> Result<Self> {
        let hidden = config.hidden_size;
        let embeddings = format!("{root}embeddings");
        let table = |name: &str, rows: usize| {
            file.read(&format!("{embeddings}.{name}.weight"), &[rows, hidden])
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let mut layer = Layer::read(file, &format!("{root}encoder.layer.{i}"), config)?;
                layer.set_bf16(bf16);
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        let pooler = format!("{root}pooler.dense");
        let pooler = if file.contains(&format!("{pooler}.weight")) {
            let mut pooler = Linear::read(file, &pooler, hidden, hidden)?;
            pooler.set_bf16(bf16);
            Some(pooler)
        } else {
            None
        };
        Ok(BertModel {
            hidden,
            heads: config.num_attention_heads,
            head_size: config.head_size(),
            inner: config.intermediate_size,
            act: config.hidden_act,
            word_embeddings: table("word_embeddings", config.vocab_size)?,
            position_embeddings: table("position_embeddings", config.max_position_embeddings)?,
            token_type_embeddings: table("token_type_embeddings", config.type_vocab_size)?,
            embeddings_norm: Norm::read(
                file,
                &format!("{embeddings}.LayerNorm"),
                hidden,
                config.layer_norm_eps,
            )?,
            layers,
            pooler,
            isa: Isa::detect(),
            scratch: Mutex::default(),
        })
    }

    /// Parameters per module, named as HF's `BertModel` names them (`root` is `""` or `"bert."`),
    /// with what they take.
    pub fn module_sizes(&self) -> Vec<(String, Sizes)> {
        let embeddings = Sizes::f32(&self.word_embeddings)
            + Sizes::f32(&self.position_embeddings)
            + Sizes::f32(&self.token_type_embeddings)
            + self.embeddings_norm.sizes();
        let mut modules = vec![("embeddings".to_string(), embeddings)];
        for (i, layer) in self.layers.iter().enumerate() {
            let attention =
                layer.qkv.sizes() + layer.attention_output.sizes() + layer.attention_norm.sizes();
            let output = layer.output.sizes() + layer.output_norm.sizes();
            let intermediate = layer.intermediate.sizes();
            for (part, sizes) in [
                ("attention", attention),
                ("intermediate", intermediate),
                ("output", output),
            ] {
                modules.push((format!("encoder.layer.{i}.{part}"), sizes));
            }
        }
        if let Some(pooler) = &self.pooler {
            modules.push(("pooler".to_string(), pooler.sizes()));
        }
        modules
    }

    /// Holds the weights of every matrix product (the encoder's and the pooler's `Linear`s) as
    /// bfloat16 and multiplies them with the bf16 kernel, or (`None`) back as f32. The
    /// embedding tables, biases and layer norms stay f32.
    pub fn set_bf16(&mut self, bf16: Option<Bf16Isa>) {
        for layer in &mut self.layers {
            layer.set_bf16(bf16);
        }
        if let Some(pooler) = &mut self.pooler {
            pooler.set_bf16(bf16);
        }
    }

    /// The instruction sets the model runs on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The f32 values a pass over `batch × seq` tokens holds at its peak: the buffers of one
    /// layer and, with `collect`, every hidden state and attention map; `None` beyond `usize`.
    pub fn activation_values(&self, batch: usize, seq: usize, collect: bool) -> Option<usize> {
        let rows = batch.checked_mul(seq)?;
        let layers = self.layers.len();
        // hidden, next, qkv (3), context: 6 × hidden per row, plus the feed-forward's inner.
        let per_row = self.hidden.checked_mul(6)?.checked_add(self.inner)?;
        let working = rows.checked_mul(per_row)?;
        let scores = batch
            .checked_mul(self.heads)?
            .checked_mul(seq)?
            .checked_mul(seq)?;
        let kept = if collect {
            let states = rows.checked_mul(self.hidden)?.checked_mul(layers + 1)?;
            states.checked_add(scores.checked_mul(layers)?)?
        } else {
            // One score matrix per thread, at most one per head.
            seq.checked_mul(seq)?
                .checked_mul(rayon::current_num_threads())?
        };
        working.checked_add(kept)
    }

    /// Refuses a pass that would hold more than [`MAX_ACTIVATION_VALUES`]: allocating that
    /// much can fail, and a failed allocation aborts the process (the notebook's kernel).
    pub fn check_activations(&self, batch: usize, seq: usize, collect: bool) -> Result<()> {
        match self.activation_values(batch, seq, collect) {
            Some(values) if values <= MAX_ACTIVATION_VALUES => Ok(()),
            values => {
                let gib = values.map_or(f64::INFINITY, |v| v as f64 * 4.0 / (1u64 << 30) as f64);
                let kept = if collect {
                    format!(
                        "; forward keeps every hidden state and the attention maps of {} layers",
                        self.layers.len()
                    )
                } else {
                    String::new()
                };
                Err(Error::invalid(format!(
                    "{batch} texts × {seq} tokens would need {gib:.1} GiB of activations{kept}, \
                     more than the {} GiB this library allows in one pass: run fewer or shorter \
                     texts at a time; bert.embed keeps no attention maps and runs a long list in \
                     chunks",
                    (MAX_ACTIVATION_VALUES * 4) >> 30
                )))
            }
        }
    }

    /// Runs a padded batch whose ids and types the caller checked against the config.
    /// With `collect`, keeps every hidden state and attention map; without, only the last
    /// hidden state (for embeddings, where the rest would be wasted memory).
    pub fn forward(&self, inputs: &Inputs<'_>, collect: bool) -> Pass {
        // On one of rayon's threads, the others kept awake (`kernels::pass`): for one short
        // sentence a step is shorter than waking the pool from outside.
        run_pass(|| self.forward_in_pool(inputs, collect))
    }

    fn forward_in_pool(&self, inputs: &Inputs<'_>, collect: bool) -> Pass {
        let isa = self.isa;
        let batch = inputs.ids.len();
        let seq = inputs.ids.first().map_or(0, |r| r.len());
        let rows = batch * seq;
        let hidden_size = self.hidden;

        let mut hidden = self.embed(inputs);
        // HF's get_extended_attention_mask: (1 - mask) · finfo(f32).min, added to the scores.
        let mask_add: Vec<f32> = inputs
            .attention_mask
            .iter()
            .flat_map(|row| row.iter().map(|&m| if m == 0 { f32::MIN } else { 0.0 }))
            .collect();

        let shape = [batch, seq, hidden_size];
        let mut hidden_states = Vec::with_capacity(if collect { self.layers.len() + 1 } else { 1 });
        let mut attentions = Vec::with_capacity(self.layers.len());
        let mut scratch = match self.scratch.try_lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(_) => Scratch::default(),
        };
        scratch.fit(rows, hidden_size, self.inner);
        let Scratch {
            qkv,
            context,
            inner,
        } = &mut scratch;
        for layer in &self.layers {
            layer.qkv.apply(isa, &hidden, rows, qkv, false);
            // Written whole by the attention (every head's every row of probabilities).
            let mut probs =
                collect.then(|| pool::take_for_overwrite(batch * self.heads * seq * seq));
            self.attention(qkv, &mask_add, batch, seq, context, probs.as_deref_mut());
            // The residual stream: updated in place, or, when the layer's input is kept, into a
            // buffer of its own, the input added in the layer norm (the same sums either way).
            let mut next = if collect {
                // Written whole by the product.
                let mut next = pool::take_for_overwrite(hidden.len());
                layer
                    .attention_output
                    .apply(isa, context, rows, &mut next, false);
                layer
                    .attention_norm
                    .apply_after_adding(isa, &mut next, &hidden);
                next
            } else {
                let mut next = std::mem::take(&mut hidden);
                layer
                    .attention_output
                    .apply(isa, context, rows, &mut next, true);
                layer.attention_norm.apply(isa, &mut next);
                next
            };
            layer.intermediate.apply(isa, &next, rows, inner, false);
            for_row_blocks(inner, self.inner, |block| match self.act {
                HiddenAct::Gelu => math::gelu_erf(isa, block),
                HiddenAct::GeluApproximate => math::gelu_tanh(isa, block),
                HiddenAct::Relu => block.iter_mut().for_each(|v| *v = v.max(0.0)),
            });
            layer.output.apply(isa, inner, rows, &mut next, true);
            layer.output_norm.apply(isa, &mut next);
            if let Some(probs) = probs {
                hidden_states.push(Tensor::from_parts(hidden, shape));
                attentions.push(Tensor::from_parts(probs, [batch, self.heads, seq, seq]));
            }
            hidden = next;
        }
        if scratch.held_bytes() <= SCRATCH_KEPT_BYTES
            && let Ok(mut kept) = self.scratch.try_lock()
        {
            *kept = scratch;
        }
        let pooler_output = match &self.pooler {
            Some(dense) => {
                let first_tokens: Vec<f32> = hidden
                    .chunks_exact(seq * hidden_size)
                    .flat_map(|sequence| sequence[..hidden_size].iter().copied())
                    .collect();
                let mut pooled = vec![0f32; batch * hidden_size];
                dense.apply(isa, &first_tokens, batch, &mut pooled, false);
                math::tanh_inplace(isa, &mut pooled);
                Some(Tensor::from_parts(pooled, [batch, hidden_size]))
            }
            None => None,
        };
        hidden_states.push(Tensor::from_parts(hidden, shape));
        Pass {
            hidden_states,
            attentions,
            pooler_output,
        }
    }

    /// `BertEmbeddings`: word + token type + absolute position, then layer norm.
    fn embed(&self, inputs: &Inputs<'_>) -> Vec<f32> {
        let width = self.hidden;
        let seq = inputs.ids.first().map_or(0, |r| r.len());
        // Written whole by the loop below.
        let mut out = pool::take_for_overwrite(inputs.ids.len() * seq * width);
        fn row(table: &[f32], width: usize, index: usize) -> &[f32] {
            &table[index * width..(index + 1) * width]
        }
        for (i, out_row) in out.chunks_exact_mut(width).enumerate() {
            let (b, s) = (i / seq, i % seq);
            let word = row(&self.word_embeddings, width, inputs.ids[b][s] as usize);
            let token_type = row(
                &self.token_type_embeddings,
                width,
                inputs.type_ids[b][s] as usize,
            );
            let position = row(&self.position_embeddings, width, s);
            for (((o, &w), &t), &p) in out_row.iter_mut().zip(word).zip(token_type).zip(position) {
                *o = (w + t) + p;
            }
        }
        self.embeddings_norm.apply(self.isa, &mut out);
        out
    }

    /// Multi-head scaled dot-product attention of the stacked `qkv` rows into `context`
    /// (`[batch · seq, hidden]`, heads side by side), writing each head's probabilities to
    /// `probs` (`[batch, heads, seq, seq]`) when given. One task per (sequence, head).
    fn attention(
        &self,
        qkv: &[f32],
        mask_add: &[f32],
        batch: usize,
        seq: usize,
        context: &mut [f32],
        probs: Option<&mut [f32]>,
    ) {
        let isa = self.isa;
        let (heads, d, hidden) = (self.heads, self.head_size, self.hidden);
        let stride = 3 * hidden;
        let scale = 1.0 / (d as f32).sqrt();
        assert!(qkv.len() == batch * seq * stride && context.len() == batch * seq * hidden);
        // One job per (sequence, head): its columns of the sequence's rows of `context`, and its
        // `seq × seq` probabilities when they are kept.
        let contexts = StridedMut::new(context, batch * seq, hidden, hidden)
            .expect("context holds batch · seq rows")
            .row_blocks(seq.max(1))
            .into_iter()
            .flat_map(|rows| rows.column_blocks(d));
        let mut probs = probs.map(|p| {
            assert_eq!(p.len(), batch * heads * seq * seq);
            p.chunks_exact_mut((seq * seq).max(1))
        });
        let jobs: Vec<_> = contexts
            .enumerate()
            .map(|(job, context)| (job, context, probs.as_mut().and_then(Iterator::next)))
            .collect();
        let no_bias = Output {
            bias: None,
            accumulate: false,
        };
        let scratch = || (PackedB::default(), vec![0f32; seq * seq]);
        let run =
            |(packed, scratch): &mut (PackedB, Vec<f32>),
             (job, context, probs): (usize, StridedMut<'_>, Option<&mut [f32]>)| {
                let (b, h) = (job / heads, job % heads);
                let base = b * seq * stride + h * d;
                // In this thread's scratch (in its caches) even when the probabilities are kept:
                // they are streamed to the output at the end.
                let scores: &mut [f32] = scratch;
                // scores = Q · Kᵀ: B[i][j] = K[j][i].
                packed.pack(&qkv[base + hidden..], d, seq, 1, stride);
                gemm(
                    isa,
                    &qkv[base..],
                    stride,
                    seq,
                    packed,
                    no_bias,
                    scores,
                    seq,
                    false,
                );
                math::scaled_masked_softmax(isa, scores, seq, scale, &mask_add[b * seq..][..seq]);
                // context = P · V: B[i][j] = V[i][j].
                packed.pack(&qkv[base + 2 * hidden..], seq, d, stride, 1);
                gemm_view(isa, scores, seq, packed, no_bias, context, false);
                if let Some(probs) = probs {
                    math::copy_streaming(isa, probs, scores);
                }
            };
        // A short sentence's attention is a few thousand multiply-adds per head: handing the
        // heads to other threads would cost more than computing them here.
        if batch * heads * seq * seq * d < ATTENTION_PARALLEL_MIN {
            let mut buffers = scratch();
            jobs.into_iter().for_each(|job| run(&mut buffers, job));
        } else {
            jobs.into_par_iter()
                .for_each_init(scratch, |buffers, job| run(buffers, job));
        }
    }
}
