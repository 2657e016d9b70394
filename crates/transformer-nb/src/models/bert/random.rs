//! BERTs made from a config alone, with random weights: HF's `BertModel(config)`.

use std::path::PathBuf;

use super::{Bert, BertConfig, model::BertModel};
use crate::embed::Pooling;
use crate::error::{Error, Result};
use crate::models::checkpoint::{Checkpoint, RandomWeights};
use crate::models::precision::Precision;
use crate::tokenize::Tokenizer;

/// The vocabulary of [`Bert::tiny_random`]: the special tokens, every lowercase letter and
/// digit alone and as a `##` continuation (so that any lowercase ASCII word tokenizes, letter
/// by letter at worst), punctuation, and the words of the crate's examples.
const TINY_VOCAB: &str = "[PAD] [UNK] [CLS] [SEP] [MASK] \
    . , ! ? ' \" - : ; ( ) \
    a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 \
    ##a ##b ##c ##d ##e ##f ##g ##h ##i ##j ##k ##l ##m ##n ##o ##p ##q ##r ##s ##t ##u ##v \
    ##w ##x ##y ##z ##0 ##1 ##2 ##3 ##4 ##5 ##6 ##7 ##8 ##9 ##ed ##ing ##er ##ly \
    the an and or of to in on at is was are were be it this that he she they we you my your \
    read good novel book books story cat cats dog dogs sat mat tired street crossed animal \
    bank river money loan water deposit paris france capital city rome italy london weather \
    today sunny rain cold warm hot like love enjoy music song play football game team won lost \
    movie film great bad new old big small car train fast slow eat food rice cook kitchen \
    hello world thanks yes no what where when who how why not very nice happy sad hi short one \
    longer am because word";

impl Bert {
    /// A BERT with random weights, made from `config` and `tokenizer` alone: what HF's
    /// `BertModel(config)` gives (weights from a normal distribution with standard deviation
    /// `config.initializer_range`, biases zero, LayerNorm scales one; the same `seed` gives the
    /// same weights). It has every tensor of a `BertForMaskedLM`, so [`MaskedLm`](super::MaskedLm)
    /// and [`weight`](Self::weight) work on it, and it pools by the mean. Untrained, its
    /// attention and predictions show what training has to learn.
    ///
    /// `dir()` is empty: there is no folder behind it.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let tokenizer = Tokenizer::from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"])?;
    /// let config = BertConfig {
    ///     vocab_size: tokenizer.vocab_size(),
    ///     hidden_size: 16,
    ///     num_hidden_layers: 2,
    ///     num_attention_heads: 2,
    ///     intermediate_size: 64,
    ///     ..BertConfig::default()
    /// };
    /// let bert = Bert::random(config, tokenizer, 42)?;
    /// let out = bert.forward(&bert.tokenizer().encode("hello")?)?;
    /// assert_eq!(out.last_hidden_state().dims(), [1, 3, 16]);
    /// assert_eq!(bert.summary().total_parameters(), 15_184);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn random(config: BertConfig, tokenizer: Tokenizer, seed: u64) -> Result<Self> {
        config
            .validate()
            .map_err(|message| Error::InvalidArgument {
                message: format!("this BertConfig cannot make a model: {message}"),
            })?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::InvalidArgument {
                message: format!(
                    "the tokenizer has {} tokens but the config's vocab_size is {}: set \
                     vocab_size to tokenizer.vocab_size()",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            });
        }
        let tokenizer = if tokenizer.max_length() > config.max_position_embeddings {
            tokenizer.with_max_length(config.max_position_embeddings)?
        } else {
            tokenizer
        };
        let random = RandomWeights::bert(&config, seed);
        let model = BertModel::read(&Checkpoint::Random(random.clone()), "", &config, None)?;
        Ok(Bert {
            model,
            config,
            embed_tokenizer: tokenizer.clone(),
            tokenizer,
            pooling: Pooling::default(),
            dir: PathBuf::new(),
            random: Some(random),
            precision: Precision::F32,
        })
    }

    /// A tiny BERT with random weights (seed 0): 2 layers, 4 heads of 8 dimensions (hidden
    /// size 32), 128 positions, and a vocabulary of 203 tokens: letters, digits, punctuation
    /// and common English words; letters with accents become `[UNK]`. It builds in a
    /// millisecond and needs no download, which is what the examples in these docs and quick
    /// experiments want; its numbers mean nothing.
    ///
    /// ```
    /// use transformer_nb::prelude::*;
    ///
    /// let bert = Bert::tiny_random()?;
    /// let enc = bert.tokenizer().encode("I read a good novel.")?;
    /// assert_eq!(enc.tokens(), ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]);
    /// assert_eq!(bert.tokenizer().tokenize("Xylophones")?, ["x", "##y", "##l", "##o", "##p", "##h", "##o", "##n", "##e", "##s"]);
    /// assert_eq!(bert.forward(&enc)?.last_hidden_state().dims(), [1, 8, 32]);
    /// assert_eq!(bert.config().vocab_size, 203);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tiny_random() -> Result<Self> {
        let tokenizer = Tokenizer::from_vocab(TINY_VOCAB.split(' ').filter(|t| !t.is_empty()))?;
        let config = BertConfig {
            vocab_size: tokenizer.vocab_size(),
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: 128,
            ..BertConfig::default()
        };
        Bert::random(config, tokenizer, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiny_vocabulary_has_no_duplicates() {
        let tokens: Vec<&str> = TINY_VOCAB.split(' ').filter(|t| !t.is_empty()).collect();
        let mut sorted = tokens.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), tokens.len());
        assert_eq!(tokens[..5], ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
    }

    #[test]
    fn a_config_that_does_not_fit_the_tokenizer_is_an_error() {
        let tokenizer = Tokenizer::from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]).unwrap();
        let small = BertConfig {
            vocab_size: 3,
            hidden_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 8,
            ..BertConfig::default()
        };
        let err = Bert::random(small.clone(), tokenizer.clone(), 0).unwrap_err();
        assert!(err.to_string().contains("vocab_size"), "{err}");
        let odd = BertConfig {
            vocab_size: 4,
            num_attention_heads: 3,
            ..small
        };
        let err = Bert::random(odd, tokenizer, 0).unwrap_err();
        assert!(err.to_string().contains("attention heads"), "{err}");
    }

    #[test]
    fn a_random_bert_is_the_same_for_a_seed_and_its_weights_are_what_it_runs() {
        let a = Bert::tiny_random().unwrap();
        let b = Bert::tiny_random().unwrap();
        let enc = a.tokenizer().encode("the cat sat on the mat").unwrap();
        let (out_a, out_b) = (a.forward(&enc).unwrap(), b.forward(&enc).unwrap());
        assert_eq!(
            out_a.last_hidden_state().values(),
            out_b.last_hidden_state().values()
        );
        let table = a.weight("embeddings.word_embeddings.weight").unwrap();
        assert_eq!(table.dims(), [a.config().vocab_size, 32]);
        assert!(
            a.weight_names()
                .unwrap()
                .contains(&"cls.predictions.bias".to_string())
        );
        assert!(a.dir().as_os_str().is_empty());
    }
}
