//! Sentence embeddings: one vector per text, pooled from BERT's last hidden state.
//!
//! A sentence-transformers checkpoint says how to pool in its own files: `modules.json` lists
//! the modules (`Transformer`, `Pooling`, often `Normalize`) and `1_Pooling/config.json` picks
//! the pooling mode. all-MiniLM-L6-v2 uses mean pooling over real (unpadded) tokens, then L2
//! normalisation. A plain BERT folder has neither file; then we mean-pool and normalise too.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// How token vectors become one sentence vector.
///
/// ```
/// use transformer_nb::embed::{Pooling, PoolingMode};
///
/// let default = Pooling::default();
/// assert_eq!(default.mode, PoolingMode::Mean);
/// assert!(default.normalize);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    /// Which tokens are combined, and how.
    pub mode: PoolingMode,
    /// Whether each vector is scaled to length 1 (then dot product = cosine similarity).
    pub normalize: bool,
}

/// The pooling modes of sentence-transformers' `Pooling` module.
///
/// ```
/// use transformer_nb::embed::PoolingMode;
///
/// assert_ne!(PoolingMode::Cls, PoolingMode::Mean);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    /// The average of the unpadded tokens' vectors (`pooling_mode_mean_tokens`).
    Mean,
    /// The `[CLS]` token's vector (`pooling_mode_cls_token`).
    Cls,
    /// The element-wise maximum over unpadded tokens (`pooling_mode_max_tokens`).
    Max,
    /// The sum divided by √(number of tokens) (`pooling_mode_mean_sqrt_len_tokens`).
    MeanSqrtLen,
}

impl Default for Pooling {
    fn default() -> Self {
        Pooling {
            mode: PoolingMode::Mean,
            normalize: true,
        }
    }
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

/// `1_Pooling/config.json`; mean pooling is what is left when no other mode is set.
#[derive(Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

impl Pooling {
    /// Reads the pooling of a model folder from `modules.json` and its `Pooling` module's
    /// `config.json`; without `modules.json`, the [default](Pooling::default).
    ///
    /// ```no_run
    /// use transformer_nb::embed::{Pooling, PoolingMode};
    ///
    /// let pooling = Pooling::from_dir("models/all-MiniLM-L6-v2")?;
    /// assert_eq!(pooling.mode, PoolingMode::Mean);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let modules_path = dir.join("modules.json");
        if !modules_path.is_file() {
            return Ok(Pooling::default());
        }
        let modules: Vec<ModuleEntry> =
            read_json(&modules_path, "sentence-transformers modules.json")?;
        let pooling_module = modules.iter().find(|m| m.kind.ends_with(".Pooling"));
        let normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
        let mode = match pooling_module {
            None => PoolingMode::Mean,
            Some(module) => {
                let path = dir.join(&module.path).join("config.json");
                let config: PoolingConfig = if path.is_file() {
                    read_json(&path, "sentence-transformers pooling config")?
                } else {
                    PoolingConfig::default()
                };
                if config.pooling_mode_cls_token {
                    PoolingMode::Cls
                } else if config.pooling_mode_max_tokens {
                    PoolingMode::Max
                } else if config.pooling_mode_mean_sqrt_len_tokens {
                    PoolingMode::MeanSqrtLen
                } else {
                    PoolingMode::Mean
                }
            }
        };
        Ok(Pooling { mode, normalize })
    }
}

/// `max_seq_length` of `sentence_bert_config.json`, if the folder has one.
pub(crate) fn max_seq_length(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join("sentence_bert_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let config: SentenceBertConfig = read_json(&path, "sentence_bert_config.json")?;
    Ok(config.max_seq_length)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(path, what, e))
}

/// Sentence embeddings of some texts, one vector each, with the texts they came from.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// // Needs this model in the Hugging Face cache (see "The examples in these docs").
/// let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;
/// let emb = bert.embed(&["a cat", "a dog", "a tax return"])?;
/// let sim = emb.similarity()?;
/// assert!(sim[0][1] > sim[0][2]); // cats are closer to dogs than to taxes
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    pooling: Pooling,
}

impl Embeddings {
    /// Builds embeddings from texts and their vectors (all of one length).
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    /// use transformer_nb::embed::Pooling;
    ///
    /// let emb = Embeddings::new(vec!["x".into(), "y".into()], vec![vec![1.0, 0.0], vec![0.0, 1.0]], Pooling::default())?;
    /// assert_eq!(emb.similarity()?[0][1], 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(texts: Vec<String>, vectors: Vec<Vec<f32>>, pooling: Pooling) -> Result<Self> {
        if texts.len() != vectors.len() {
            return Err(Error::invalid(format!(
                "{} texts but {} vectors: give one vector per text",
                texts.len(),
                vectors.len()
            )));
        }
        if let Some(first) = vectors.first()
            && vectors.iter().any(|v| v.len() != first.len())
        {
            return Err(Error::invalid("embedding vectors differ in length"));
        }
        Ok(Embeddings {
            texts,
            vectors,
            pooling,
        })
    }

    /// One vector per text, in the order the texts were given.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let emb = bert.embed(&["a cat"])?;
    /// assert_eq!(emb.vectors()[0].len(), 32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn vectors(&self) -> &[Vec<f32>] {
        &self.vectors
    }

    /// The texts the vectors belong to.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert_eq!(bert.embed(&["a cat"])?.texts(), ["a cat"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// How the vectors were pooled.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert!(bert.embed(&["a cat"])?.pooling().normalize);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Number of texts.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert_eq!(bert.embed(&["a", "b"])?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether there are no texts.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// assert!(!bert.embed(&["a"])?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Cosine similarity of every pair of texts: 1 for the same direction, 0 for unrelated.
    /// Up to [`MAX_SIMILARITY_TEXTS`] texts (the matrix grows with their square); more is an
    /// error that says so.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// let bert = Bert::tiny_random()?; // 2 layers, 4 heads, hidden size 32: no download
    /// let sim = bert.embed(&["a cat", "a dog"])?.similarity()?;
    /// assert!((sim[0][0] - 1.0).abs() < 1e-5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn similarity(&self) -> Result<Vec<Vec<f32>>> {
        if self.len() > MAX_SIMILARITY_TEXTS {
            return Err(Error::invalid(format!(
                "the similarity of {} texts would be a {0} × {0} matrix; it is limited to \
                 {MAX_SIMILARITY_TEXTS} texts: compare a part of them, e.g. \
                 Embeddings::new(texts[..100].to_vec(), vectors[..100].to_vec(), pooling)",
                self.len()
            )));
        }
        Ok(self.similarity_of_first(self.len()))
    }

    /// The similarities among the first `count` texts.
    pub(crate) fn similarity_of_first(&self, count: usize) -> Vec<Vec<f32>> {
        let vectors = &self.vectors[..count.min(self.len())];
        let norms: Vec<f32> = vectors
            .iter()
            .map(|v| v.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        vectors
            .iter()
            .zip(&norms)
            .map(|(a, na)| {
                vectors
                    .iter()
                    .zip(&norms)
                    .map(|(b, nb)| {
                        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                        if *na == 0.0 || *nb == 0.0 {
                            0.0
                        } else {
                            dot / (na * nb)
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// The most texts [`Embeddings::similarity`] compares (their square, 2^26 values, is 256 MiB).
pub const MAX_SIMILARITY_TEXTS: usize = 1 << 13;

#[cfg(test)]
impl Embeddings {
    /// Two texts with unit vectors at cosine similarity 0.6, for the view's unit tests.
    pub(crate) fn sample(first: &str, second: &str) -> Self {
        let vectors = vec![vec![1.0, 0.0], vec![0.6, 0.8]];
        Embeddings::new(
            vec![first.into(), second.into()],
            vectors,
            Pooling::default(),
        )
        .expect("two vectors of one length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_cosine() {
        let emb = Embeddings::new(
            vec!["a".into(), "b".into(), "c".into()],
            vec![vec![1.0, 0.0], vec![2.0, 0.0], vec![0.0, 0.0]],
            Pooling::default(),
        )
        .unwrap();
        let sim = emb.similarity().unwrap();
        assert!((sim[0][1] - 1.0).abs() < 1e-6);
        assert_eq!(
            sim[0][2], 0.0,
            "a zero vector is similar to nothing, not NaN"
        );
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let err = Embeddings::new(vec!["a".into()], vec![], Pooling::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 texts but 0 vectors: give one vector per text"
        );
        let err = Embeddings::new(
            vec!["a".into(), "b".into()],
            vec![vec![1.0], vec![1.0, 2.0]],
            Pooling::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "embedding vectors differ in length");
    }

    #[test]
    fn pooling_follows_modules_json() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Pooling::from_dir(dir.path()).unwrap(), Pooling::default());
        std::fs::write(
            dir.path().join("modules.json"),
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#,
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        )
        .unwrap();
        let pooling = Pooling::from_dir(dir.path()).unwrap();
        assert_eq!(pooling.mode, PoolingMode::Cls);
        assert!(!pooling.normalize, "no Normalize module listed");
    }

    #[test]
    fn malformed_modules_json_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("modules.json"), "[{").unwrap();
        let err = Pooling::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("modules.json"), "{err}");
    }
}
