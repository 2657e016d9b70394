//! Fill-mask and per-layer predictions against HF's `BertForMaskedLM` on a seeded random model
//! (no masked-LM weights are reachable offline; see scripts/make-references.py), and the errors
//! a learner can run into. The seeded model uses MiniLM's vocabulary, so these tests need it.

use std::sync::OnceLock;

use crate::util::{masked_lm_reference, minilm, tiny_bert, write_seeded_masked_lm};
use transformer_nb::prelude::*;

fn seeded() -> &'static (tempfile::TempDir, MaskedLm) {
    static MODEL: OnceLock<(tempfile::TempDir, MaskedLm)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_seeded_masked_lm(dir.path());
        let mlm = MaskedLm::from_dir(dir.path()).unwrap();
        (dir, mlm)
    })
}

fn cases() -> &'static [serde_json::Value] {
    masked_lm_reference()["cases"].as_array().unwrap()
}

/// `[[token, probability], ...]` from the reference.
fn top(value: &serde_json::Value) -> Vec<(String, f32)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().unwrap().to_string(),
                pair[1].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

fn assert_same_top(got: &[(String, f32)], want: &[(String, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for ((token, p), (want_token, want_p)) in got.iter().zip(want) {
        assert_eq!(token, want_token, "{what}: {got:?} vs HF {want:?}");
        assert!(
            (p - want_p).abs() < 1e-4,
            "{what}: {token} {p} vs HF {want_p}"
        );
    }
}

#[test]
fn logits_at_the_masks_match_hf_real_model() {
    let mlm = &seeded().1;
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        let enc = mlm.tokenizer().encode(text).unwrap();
        assert_eq!(enc.ids(), crate::util::as_u32s(&case["ids"]), "{text}");
        let logits = mlm.logits_at_masks(text).unwrap();
        let probes = case["logits"].as_array().unwrap();
        assert_eq!(logits.len(), probes.len(), "{text}: one row per mask");
        for (row, probe) in logits.iter().zip(probes) {
            assert_eq!(row.len(), 30522);
            let ids = crate::util::as_u32s(&probe["ids"]);
            let want = crate::util::as_f32s(&probe["values"]);
            let got: Vec<f32> = ids.iter().map(|&i| row[i as usize]).collect();
            crate::util::assert_close(&got, &want, 1e-4, text);
        }
    }
}

#[test]
fn fill_mask_gives_hf_s_top_k_best_first_real_model() {
    let mlm = &seeded().1;
    let k = masked_lm_reference()["top_k"].as_u64().unwrap() as usize;
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        let filled = mlm.fill_mask(text, k).unwrap();
        let masks: Vec<usize> = case["masks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(filled.mask_positions(), masks);
        assert_eq!(filled.candidates().len(), masks.len());
        for (got, want) in filled
            .candidates()
            .iter()
            .zip(case["top"].as_array().unwrap())
        {
            assert_same_top(got, &top(want), text);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        }
    }
}

#[test]
fn per_layer_predictions_match_hf_real_model() {
    let mlm = &seeded().1;
    let k = masked_lm_reference()["top_k"].as_u64().unwrap() as usize;
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        let lens = mlm.layer_predictions(text, k).unwrap();
        let want_masks = case["layers"].as_array().unwrap();
        assert_eq!(lens.mask_count(), want_masks.len());
        for (mask, want_layers) in want_masks.iter().enumerate() {
            let want_layers = want_layers.as_array().unwrap();
            assert_eq!(
                lens.layers(mask).len(),
                want_layers.len(),
                "embeddings + 2 layers"
            );
            for (layer, (got, want)) in lens.layers(mask).iter().zip(want_layers).enumerate() {
                assert_same_top(
                    got,
                    &top(want),
                    &format!("{text} mask {mask} layer {layer}"),
                );
            }
        }
        // The last layer's guess is fill-mask's.
        let filled = mlm.fill_mask(text, k).unwrap();
        assert_eq!(lens.layers(0).last().unwrap(), &filled.candidates()[0]);
    }
}

#[test]
fn a_text_without_a_mask_is_a_clear_error_real_model() {
    let mlm = &seeded().1;
    let err = mlm.fill_mask("I read a good novel.", 5).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    assert!(
        err.to_string()
            .contains("the text has no [MASK]: write [MASK] where a word should be guessed"),
        "{err}"
    );
    assert!(mlm.layer_predictions("", 5).is_err());
    let err = mlm.fill_mask("a [MASK]", 0).unwrap_err();
    assert!(err.to_string().contains("top_k is 0"), "{err}");
    // More than the vocabulary is as many as there are.
    assert_eq!(
        mlm.fill_mask("a [MASK]", usize::MAX).unwrap().candidates()[0].len(),
        30522
    );
    // Asking for a mask the text does not have is empty, not a panic.
    assert!(
        mlm.layer_predictions("a [MASK]", 1)
            .unwrap()
            .layers(7)
            .is_empty()
    );
}

#[test]
fn a_checkpoint_without_the_head_says_what_to_load_real_model() {
    for dir in [
        minilm().dir().to_path_buf(),
        tiny_bert().0.path().to_path_buf(),
    ] {
        let err = MaskedLm::from_dir(&dir);
        let err = match err {
            Err(err) => err,
            Ok(_) => panic!("{} has no head", dir.display()),
        };
        assert!(matches!(err, Error::MissingHead { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("has no masked-language-model head (cls.predictions)")
                && text.contains("bert-base-uncased"),
            "{text}"
        );
    }
}

#[test]
fn trajectories_follow_the_last_guesses_and_the_view_carries_them_real_model() {
    let mlm = &seeded().1;
    let lens = mlm
        .layer_predictions("The cat sat on the [MASK] because it was [MASK].", 4)
        .unwrap();
    for mask in 0..2 {
        let last = lens.layers(mask).last().unwrap();
        let paths = lens.trajectories(mask);
        assert_eq!(paths.len(), 4);
        for ((token, path), (want_token, want_p)) in paths.iter().zip(last) {
            assert_eq!(token, want_token);
            assert_eq!(path.len(), 3, "embeddings + 2 layers");
            assert!((path[2] - want_p).abs() < 1e-6);
            // At every layer the candidate's probability is at most that layer's best.
            for (layer, p) in path.iter().enumerate() {
                assert!(*p <= lens.layers(mask)[layer][0].1 + 1e-6);
            }
        }
    }
    let view = lens.view();
    let spec = view.spec();
    assert_eq!(
        spec["datasets"]["grid"].as_array().unwrap().len(),
        2 * 3 * 4
    );
    assert_eq!(
        spec["datasets"]["paths"].as_array().unwrap().len(),
        2 * 4 * 3
    );
    assert_eq!(
        spec["params"][0]["bind"]["input"], "select",
        "two masks: pick one"
    );
    assert_eq!(
        view.fallback().title(),
        "The last layer's guesses for [MASK], by layer (0: the embeddings)"
    );
}

/// The encoder in bf16 moves each logit by a small fraction of the logits' scale (the head stays
/// f32), and loading that way reports the precision it got. bf16 rounds each weight and input by
/// at most 2⁻⁸ (0.4 %) relative; through this model's two layers the errors add up to about 1 %
/// of the largest logit, and the test allows 2 %, twice that, so that rounding alone does not
/// fail it.
#[test]
fn a_bf16_encoder_moves_the_logits_little_real_model() {
    let (dir, full) = seeded();
    let bf16 = MaskedLm::from_dir_with(dir.path(), Precision::Bf16).unwrap();
    let expected = if Precision::Bf16.is_available() {
        Precision::Bf16
    } else {
        Precision::F32
    };
    assert_eq!(bf16.bert().precision(), expected);
    let mut worst = 0f32;
    for case in cases() {
        let text = case["text"].as_str().unwrap();
        let exact = full.logits_at_masks(text).unwrap();
        let rounded = bf16.logits_at_masks(text).unwrap();
        for (x, y) in exact.iter().zip(&rounded) {
            let scale = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let error = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            worst = worst.max(error / scale);
        }
    }
    eprintln!("largest logit error / largest logit: {worst}");
    assert!(worst < 0.02, "{worst}");
}
