//! Where a BERT's tensors come from: a safetensors file, or a seeded random initialization for
//! a model made from its config alone (HF's `BertModel(config)`).
//!
//! The random tensors follow `BertPreTrainedModel._init_weights`
//! (<https://github.com/huggingface/transformers/blob/v5.0.0/src/transformers/models/bert/modeling_bert.py>,
//! which defers to `PreTrainedModel._init_weights` in `modeling_utils.py`): linear and embedding weights from a normal distribution with standard deviation
//! `initializer_range`, biases zero, the padding token's embedding row zero, LayerNorm scales
//! one. Each tensor is a pure function of the seed and its name, so a tensor read again (by
//! [`Bert::weight`](crate::bert::Bert::weight)) is the one the model runs with, and nothing
//! is kept beside the packed weights.

use std::collections::BTreeMap;
use std::path::Path;

use super::safetensors::SafeTensors;
use crate::bert::BertConfig;
use crate::error::{Error, Result};

/// What error messages name as the file of random weights.
const RANDOM_SOURCE: &str = "the random weights of Bert::random";

/// The tensors a BERT reads its weights from.
pub(crate) enum Checkpoint {
    File(SafeTensors),
    Random(RandomWeights),
}

impl Checkpoint {
    /// The file, or what stands for it in error messages for random weights.
    pub(crate) fn path(&self) -> &Path {
        match self {
            Checkpoint::File(file) => file.path(),
            Checkpoint::Random(_) => Path::new(RANDOM_SOURCE),
        }
    }

    /// Whether there is a tensor of this name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.shape(name).is_some()
    }

    /// The shape of tensor `name`, if there is one.
    pub(crate) fn shape(&self, name: &str) -> Option<&[usize]> {
        match self {
            Checkpoint::File(file) => file.shape(name),
            Checkpoint::Random(random) => random.tensors.get(name).map(|(s, _)| s.as_slice()),
        }
    }

    /// Every tensor's name, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        match self {
            Checkpoint::File(file) => file.names(),
            Checkpoint::Random(random) => random.tensors.keys().map(String::as_str).collect(),
        }
    }

    /// Tensor `name`, which must have `shape`, as f32.
    pub(crate) fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        match self {
            Checkpoint::File(file) => file.read(name, shape),
            Checkpoint::Random(random) => random.read(name, shape),
        }
    }
}

/// How one random tensor is filled.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    /// Normal with this standard deviation; `zero_row` is the padding token's embedding.
    Normal {
        std: f32,
        zero_row: Option<usize>,
    },
    Zeros,
    Ones,
}

/// The names, shapes and fills of a randomly initialized `BertForMaskedLM`: the encoder with
/// its pooler, and the masked-language-model head (`cls.predictions`, decoder tied to the word
/// embeddings).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RandomWeights {
    seed: u64,
    tensors: BTreeMap<String, (Vec<usize>, Fill)>,
}

impl RandomWeights {
    pub(crate) fn bert(config: &BertConfig, seed: u64) -> Self {
        let (hidden, inner) = (config.hidden_size, config.intermediate_size);
        let std = config.initializer_range as f32;
        let mut tensors = BTreeMap::new();
        let mut add = |name: String, shape: Vec<usize>, fill: Fill| {
            tensors.insert(name, (shape, fill));
        };
        let normal = Fill::Normal {
            std,
            zero_row: None,
        };
        let linear = |add: &mut dyn FnMut(String, Vec<usize>, Fill),
                      name: &str,
                      n_out: usize,
                      k_in: usize| {
            add(format!("{name}.weight"), vec![n_out, k_in], normal);
            add(format!("{name}.bias"), vec![n_out], Fill::Zeros);
        };
        let norm = |add: &mut dyn FnMut(String, Vec<usize>, Fill), name: &str| {
            add(format!("{name}.weight"), vec![hidden], Fill::Ones);
            add(format!("{name}.bias"), vec![hidden], Fill::Zeros);
        };
        add(
            "embeddings.word_embeddings.weight".into(),
            vec![config.vocab_size, hidden],
            Fill::Normal {
                std,
                zero_row: Some(config.pad_token_id).filter(|&id| id < config.vocab_size),
            },
        );
        for (name, rows) in [
            ("position_embeddings", config.max_position_embeddings),
            ("token_type_embeddings", config.type_vocab_size),
        ] {
            add(
                format!("embeddings.{name}.weight"),
                vec![rows, hidden],
                normal,
            );
        }
        norm(&mut add, "embeddings.LayerNorm");
        for i in 0..config.num_hidden_layers {
            let layer = format!("encoder.layer.{i}");
            for part in ["query", "key", "value"] {
                linear(
                    &mut add,
                    &format!("{layer}.attention.self.{part}"),
                    hidden,
                    hidden,
                );
            }
            linear(
                &mut add,
                &format!("{layer}.attention.output.dense"),
                hidden,
                hidden,
            );
            norm(&mut add, &format!("{layer}.attention.output.LayerNorm"));
            linear(
                &mut add,
                &format!("{layer}.intermediate.dense"),
                inner,
                hidden,
            );
            linear(&mut add, &format!("{layer}.output.dense"), hidden, inner);
            norm(&mut add, &format!("{layer}.output.LayerNorm"));
        }
        linear(&mut add, "pooler.dense", hidden, hidden);
        linear(&mut add, "cls.predictions.transform.dense", hidden, hidden);
        norm(&mut add, "cls.predictions.transform.LayerNorm");
        add(
            "cls.predictions.bias".into(),
            vec![config.vocab_size],
            Fill::Zeros,
        );
        RandomWeights { seed, tensors }
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let Some((own_shape, fill)) = self.tensors.get(name) else {
            return Err(Error::weights_missing(
                RANDOM_SOURCE,
                format!("a random BERT has no tensor {name}"),
            ));
        };
        if own_shape != shape {
            return Err(Error::weights_shape(
                RANDOM_SOURCE,
                format!("{name} has shape {own_shape:?}, the config implies {shape:?}"),
            ));
        }
        let len: usize = shape.iter().product();
        Ok(match *fill {
            Fill::Zeros => vec![0.0; len],
            Fill::Ones => vec![1.0; len],
            Fill::Normal { std, zero_row } => {
                let mut normals = Normals::new(self.seed, name);
                let mut values: Vec<f32> = (0..len).map(|_| std * normals.next()).collect();
                if let (Some(row), [_, width]) = (zero_row, shape) {
                    values[row * width..(row + 1) * width].fill(0.0);
                }
                values
            }
        })
    }
}

/// Standard normal numbers (Box–Muller over SplitMix64) from a seed and a tensor's name, so
/// each tensor's values depend on nothing else.
struct Normals {
    state: u64,
    spare: Option<f32>,
}

impl Normals {
    fn new(seed: u64, name: &str) -> Self {
        // FNV-1a of the name, mixed with the seed.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Normals {
            state: seed ^ hash,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in (0, 1]: never 0, whose logarithm Box–Muller takes.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let radius = (-2.0 * u.ln()).sqrt();
        let angle = std::f64::consts::TAU * v;
        self.spare = Some((radius * angle.sin()) as f32);
        (radius * angle.cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> BertConfig {
        BertConfig {
            vocab_size: 40,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 32,
            max_position_embeddings: 20,
            ..BertConfig::default()
        }
    }

    #[test]
    fn tensors_follow_hf_init_and_depend_only_on_seed_and_name() {
        let weights = RandomWeights::bert(&small(), 7);
        let table = weights
            .read("embeddings.word_embeddings.weight", &[40, 16])
            .unwrap();
        assert!(
            table[..16].iter().all(|&v| v == 0.0),
            "the [PAD] row is zero"
        );
        let n = (table.len() - 16) as f32;
        let mean = table[16..].iter().sum::<f32>() / n;
        let std = (table[16..].iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 0.003, "mean {mean}");
        assert!((std - 0.02).abs() < 0.002, "std {std}");
        assert_eq!(
            weights
                .read("encoder.layer.1.output.LayerNorm.weight", &[16])
                .unwrap(),
            vec![1.0; 16]
        );
        assert_eq!(
            weights
                .read("encoder.layer.1.output.dense.bias", &[16])
                .unwrap(),
            vec![0.0; 16]
        );
        let query = weights
            .read("encoder.layer.0.attention.self.query.weight", &[16, 16])
            .unwrap();
        let key = weights
            .read("encoder.layer.0.attention.self.key.weight", &[16, 16])
            .unwrap();
        assert_ne!(query, key, "each tensor has its own stream");
        let again = RandomWeights::bert(&small(), 7)
            .read("encoder.layer.0.attention.self.query.weight", &[16, 16])
            .unwrap();
        assert_eq!(query, again);
        let other_seed = RandomWeights::bert(&small(), 8)
            .read("encoder.layer.0.attention.self.query.weight", &[16, 16])
            .unwrap();
        assert_ne!(query, other_seed);
    }

    #[test]
    fn a_wrong_name_or_shape_is_an_error() {
        let weights = Checkpoint::Random(RandomWeights::bert(&small(), 0));
        assert!(weights.contains("cls.predictions.bias"));
        assert!(!weights.contains("cls.predictions.decoder.weight"), "tied");
        assert!(weights.read("pooler.dense.weight", &[16, 17]).is_err());
        assert!(weights.read("no.such.tensor", &[1]).is_err());
        assert_eq!(weights.names().len(), 5 + 2 * 16 + 2 + 5);
    }
}
