//! Text generation with a [`CausalLm`]: greedy or sampled (temperature, top-k, top-p, a seed),
//! one token a step over a key/value cache, with what the model thought at every step.
//!
//! The prompt runs once; each step then runs only the newest token, attending over the cached
//! keys and values of everything before it (the logits equal those of a full recompute: the
//! tests check it). Sampling follows HF's `generate` order: temperature, then top-k, then top-p,
//! then a draw from what is left. The draws come from the crate's own seeded generator
//! (SplitMix64), so a seed gives the same text on every machine.

use std::io::{IsTerminal, Write};

use crate::error::{Error, Result};
use crate::models::KvCache;
use crate::models::causal_lm::{CausalLm, TokenProb, softmax, token_prob, top_k};
use crate::models::decoder::Want;
use crate::tokenize::ChatMessage;

/// Alternatives kept per step.
const ALTERNATIVES: usize = 5;

/// How the next token is picked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Strategy {
    Greedy,
    Sampling { temperature: f32 },
}

/// How [`CausalLm::generate`] picks tokens and when it stops.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let greedy = GenerateOptions::greedy().max_new_tokens(32);
/// let creative = GenerateOptions::sampling(0.8).top_k(50).top_p(0.95).seed(7).max_new_tokens(64);
/// assert_eq!(creative.get_max_new_tokens(), 64);
/// # let _ = greedy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    strategy: Strategy,
    max_new_tokens: usize,
    top_k: usize,
    top_p: f32,
    seed: u64,
    stop: Vec<String>,
    stream: bool,
}

impl Default for GenerateOptions {
    /// Greedy, 64 new tokens.
    fn default() -> Self {
        GenerateOptions::greedy()
    }
}

impl GenerateOptions {
    /// The most likely token at every step (HF's `do_sample=False`): the same text every time.
    pub fn greedy() -> Self {
        GenerateOptions {
            strategy: Strategy::Greedy,
            max_new_tokens: 64,
            top_k: 0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
            stream: false,
        }
    }

    /// A random token at every step, drawn from the model's probabilities sharpened
    /// (`temperature` < 1) or flattened (> 1). `temperature` must be a positive number:
    /// [`greedy`](Self::greedy) is the limit of 0.
    pub fn sampling(temperature: f32) -> Self {
        GenerateOptions {
            strategy: Strategy::Sampling { temperature },
            ..GenerateOptions::greedy()
        }
    }

    /// At most `n` new tokens (fewer when an end-of-sequence token, a stop string or the end of
    /// the model's context comes first).
    pub fn max_new_tokens(mut self, n: usize) -> Self {
        self.max_new_tokens = n;
        self
    }

    /// Draw only among the `k` most likely tokens (0: no limit, as in HF).
    pub fn top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }

    /// Draw only among the most likely tokens whose probabilities add up to `p` (nucleus
    /// sampling, Holtzman et al. 2019); `p` in (0, 1].
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = p;
        self
    }

    /// The seed of the draws: the same seed, the same text.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stop when the generated text contains `text` (which is cut off the result).
    pub fn stop(mut self, text: impl Into<String>) -> Self {
        self.stop.push(text.into());
        self
    }

    /// Print the text as it is generated. In a terminal each token appears as it comes; in a
    /// notebook (evcxr shows a cell's output a line at a time) each line appears when it is
    /// complete, long lines broken at a space.
    pub fn stream(mut self, on: bool) -> Self {
        self.stream = on;
        self
    }

    /// The limit on new tokens.
    pub fn get_max_new_tokens(&self) -> usize {
        self.max_new_tokens
    }

    fn check(&self) -> Result<()> {
        if let Strategy::Sampling { temperature } = self.strategy
            && !(temperature.is_finite() && temperature > 0.0)
        {
            return Err(Error::invalid(format!(
                "temperature {temperature} cannot be sampled with: use a positive number (0.7 \
                 is common), or GenerateOptions::greedy() for the most likely token"
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::invalid(format!(
                "top_p {} is outside (0, 1]: use e.g. 0.9 to keep the tokens that make up 90 % of \
                 the probability, or 1.0 for all",
                self.top_p
            )));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "an empty stop string would stop before the first token: remove it",
            ));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The model chose an end-of-sequence token.
    EndOfSequence,
    /// The text reached one of the stop strings.
    StopString,
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// The model's context (its longest sequence) is full.
    ContextFull,
}

/// One step of generation: the chosen token and what else the model considered.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The chosen token, with the probability the model gave it (softmax of its logits, before
    /// temperature, top-k and top-p).
    pub chosen: TokenProb,
    /// The model's most likely tokens at this step, most likely first.
    pub alternatives: Vec<TokenProb>,
}

/// What [`CausalLm::generate`] and [`CausalLm::chat`] return.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    prompt: String,
    prompt_ids: Vec<u32>,
    ids: Vec<u32>,
    text: String,
    steps: Vec<Step>,
    stop_reason: StopReason,
}

impl Generation {
    /// The prompt as the model read it (for a chat, the rendered conversation).
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The prompt's ids.
    pub fn prompt_ids(&self) -> &[u32] {
        &self.prompt_ids
    }

    /// The generated ids only (an end-of-sequence token included when it ended the text).
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The generated text, special tokens left out, cut at a stop string.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// One entry per generated token.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Why it ended.
    pub fn stop_reason(&self) -> StopReason {
        self.stop_reason
    }
}

impl std::fmt::Display for Generation {
    /// The generated text, then each token with its probability.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.text)?;
        let tokens: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("{:?} {:.0}%", s.chosen.text, s.chosen.probability * 100.0))
            .collect();
        write!(
            f,
            "{} tokens ({:?}): {}",
            self.ids.len(),
            self.stop_reason,
            tokens.join(", ")
        )
    }
}

/// SplitMix64 (Steele et al., 2014): small, fast and the same everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks the next token from `logits` as `options` say.
fn pick(logits: &[f32], options: &GenerateOptions, rng: &mut SplitMix64) -> u32 {
    let temperature = match options.strategy {
        Strategy::Greedy => return top_k(logits, 1)[0].0,
        Strategy::Sampling { temperature } => temperature,
    };
    let scaled: Vec<f32> = logits.iter().map(|&l| l / temperature).collect();
    let probs = softmax(&scaled);
    let k = if options.top_k == 0 {
        probs.len()
    } else {
        options.top_k.min(probs.len())
    };
    // Candidates most likely first; top-p keeps the fewest whose probabilities reach p (at
    // least one). The cut and the draw nearly always fall among the first few hundred of the
    // vocabulary, so those are ranked first, more only when the draw goes past them.
    let top_p = f64::from(options.top_p);
    let keeps_all = top_p >= 1.0;
    let all: f64 = probs.iter().map(|&p| f64::from(p)).sum();
    let unit = rng.next_f64();
    let mut ranked = k.min(RANKED_FIRST);
    loop {
        let candidates = top_k(&probs, ranked);
        let complete = ranked == k;
        let mut total = 0.0f64;
        let mut cut = None;
        if !keeps_all {
            for (i, (_, p)) in candidates.iter().enumerate() {
                total += f64::from(*p);
                if total >= top_p {
                    cut = Some(i + 1);
                    break;
                }
            }
        }
        let (kept, sum) = match cut {
            Some(n) => (
                &candidates[..n],
                candidates[..n].iter().map(|c| f64::from(c.1)).sum(),
            ),
            // Every token is kept: the first `ranked` of them, against the sum over all.
            None if keeps_all && k == probs.len() => (&candidates[..], all),
            None if complete => {
                let sum = candidates.iter().map(|c| f64::from(c.1)).sum();
                (&candidates[..], sum)
            }
            None => {
                ranked = ranked.saturating_mul(8).min(k);
                continue;
            }
        };
        let mut draw = unit * sum;
        for &(id, p) in kept {
            draw -= f64::from(p);
            if draw < 0.0 {
                return id;
            }
        }
        if complete || cut.is_some() {
            return kept.last().map_or(0, |c| c.0);
        }
        ranked = ranked.saturating_mul(8).min(k);
    }
}

/// Tokens a draw ranks before it ranks the whole vocabulary (see `pick`).
const RANKED_FIRST: usize = 256;

/// Prints generated text as it comes: token by token to a terminal, line by line elsewhere.
struct Printer {
    terminal: bool,
    line: String,
}

/// A line longer than this breaks at its last space (for a notebook's line-by-line output).
const LINE_WIDTH: usize = 80;

impl Printer {
    fn new() -> Self {
        Printer {
            terminal: std::io::stdout().is_terminal(),
            line: String::new(),
        }
    }

    fn push(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let _ = write!(out, "{text}");
            let _ = out.flush();
            return;
        }
        self.line.push_str(text);
        while let Some(end) = self.line.find('\n') {
            let _ = writeln!(out, "{}", &self.line[..end]);
            self.line.drain(..=end);
        }
        if self.line.chars().count() > LINE_WIDTH
            && let Some(space) = self.line.rfind(' ')
        {
            let _ = writeln!(out, "{}", &self.line[..space]);
            self.line.drain(..=space);
        }
        let _ = out.flush();
    }

    fn finish(self) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let _ = writeln!(out);
        } else if !self.line.is_empty() {
            let _ = writeln!(out, "{}", self.line);
        }
    }
}

impl CausalLm {
    /// Continues `prompt` (tokenized as the model's tokenizer does, special tokens included).
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let g = lm.generate("The capital of France is", &GenerateOptions::greedy().max_new_tokens(8))?;
    /// assert!(g.text().contains("Paris"));
    /// println!("{:.2}", g.steps()[0].chosen.probability);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn generate(&self, prompt: &str, options: &GenerateOptions) -> Result<Generation> {
        let enc = self.tokenizer.encode(prompt)?;
        self.generate_from(prompt.to_string(), enc.ids().to_vec(), options)
    }

    /// Answers a conversation: renders it with the model's chat template (adding the prompt
    /// for the assistant's turn), generates, and stops at the end of the assistant's turn.
    ///
    /// ```no_run
    /// use transformer_nb::prelude::*;
    ///
    /// let lm = CausalLm::from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")?;
    /// let messages = [ChatMessage::system("Be brief."), ChatMessage::user("What is the capital of France?")];
    /// let g = lm.chat(&messages, &GenerateOptions::greedy().max_new_tokens(32))?;
    /// println!("{}", g.text());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chat(&self, messages: &[ChatMessage], options: &GenerateOptions) -> Result<Generation> {
        if messages.is_empty() {
            return Err(Error::EmptyBatch { what: "messages" });
        }
        let prompt = self.tokenizer.apply_chat_template(messages, true)?;
        let enc = self.tokenizer.encode_chat(messages, true)?;
        self.generate_from(prompt, enc.ids().to_vec(), options)
    }

    /// Continues a prompt given as ids.
    pub fn generate_ids(&self, ids: &[u32], options: &GenerateOptions) -> Result<Generation> {
        let prompt = self.tokenizer.decode(ids)?;
        self.generate_from(prompt, ids.to_vec(), options)
    }

    fn generate_from(
        &self,
        prompt: String,
        prompt_ids: Vec<u32>,
        options: &GenerateOptions,
    ) -> Result<Generation> {
        options.check()?;
        self.check_ids(&prompt_ids, 0)?;
        let config = self.config();
        let mut cache = KvCache::new(config.layers);
        let mut rng = SplitMix64(options.seed);
        let mut stream = self.tokenizer.text_stream(true);
        let mut printer = options.stream.then(Printer::new);
        let (mut ids, mut steps, mut text) = (Vec::new(), Vec::new(), String::new());
        let mut next_input = prompt_ids.clone();
        let mut stop_reason = StopReason::MaxNewTokens;
        let mut printed = 0;
        while ids.len() < options.max_new_tokens {
            // The model reads at most `max_positions` tokens, the new one included.
            if prompt_ids.len() + ids.len() >= config.max_positions {
                stop_reason = StopReason::ContextFull;
                break;
            }
            let pass = self
                .model
                .forward(&next_input, &mut cache, Want::default())?;
            let id = pick(&pass.logits, options, &mut rng);
            let probs = softmax(&pass.logits);
            steps.push(Step {
                chosen: token_prob(&self.tokenizer, id, probs[id as usize]),
                alternatives: top_k(&probs, ALTERNATIVES)
                    .into_iter()
                    .map(|(i, p)| token_prob(&self.tokenizer, i, p))
                    .collect(),
            });
            ids.push(id);
            if self.stop_ids.contains(&id) {
                stop_reason = StopReason::EndOfSequence;
                break;
            }
            if let Some(piece) = stream.push(id)? {
                text.push_str(&piece);
                let cut = options
                    .stop
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min();
                if let Some(cut) = cut {
                    text.truncate(cut);
                }
                if let Some(p) = printer.as_mut() {
                    p.push(&text[printed.min(text.len())..]);
                }
                printed = text.len();
                if cut.is_some() {
                    stop_reason = StopReason::StopString;
                    break;
                }
            }
            next_input = vec![id];
        }
        if stop_reason != StopReason::StopString {
            let rest = stream.finish();
            if let Some(p) = printer.as_mut() {
                p.push(&rest);
            }
            text.push_str(&rest);
        }
        if let Some(p) = printer {
            p.finish();
        }
        Ok(Generation {
            prompt,
            prompt_ids,
            ids,
            text,
            steps,
            stop_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_reproducible_and_respects_top_k_and_top_p() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0];
        let opts = GenerateOptions::sampling(1.0).seed(3);
        let draws = |o: &GenerateOptions| {
            let mut rng = SplitMix64(o.seed);
            (0..200)
                .map(|_| pick(&logits, o, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(&opts), draws(&opts));
        assert!(draws(&opts).iter().any(|&id| id >= 2));
        assert!(draws(&opts.clone().top_k(2)).iter().all(|&id| id < 2));
        // p = 0.5: the first token alone holds more than half.
        assert!(draws(&opts.clone().top_p(0.5)).iter().all(|&id| id == 0));
        let mut rng = SplitMix64(0);
        assert_eq!(pick(&logits, &GenerateOptions::greedy(), &mut rng), 0);
    }

    #[test]
    fn bad_options_are_errors() {
        for bad in [
            GenerateOptions::sampling(0.0),
            GenerateOptions::sampling(-1.0),
            GenerateOptions::sampling(f32::NAN),
            GenerateOptions::greedy().top_p(0.0),
            GenerateOptions::greedy().top_p(f32::NAN),
            GenerateOptions::greedy().stop(""),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(GenerateOptions::sampling(0.7).top_p(1.0).check().is_ok());
    }
}
