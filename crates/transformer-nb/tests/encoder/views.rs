//! The interactive views' data: what the Vega-Lite spec carries is the attention the forward
//! pass computed, for the tokens it ran on. (The specs are validated against Vega-Lite's schema
//! and drawn by Vega in tests/e2e/test_views.py.)

use crate::util::{decode_png, minilm, tiny_bert};
use transformer_nb::prelude::*;

/// The attention values a view carries: its `attention` parameter, 4 digits per value.
fn carried(spec: &serde_json::Value) -> Vec<f64> {
    let param = spec["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "attention")
        .expect("an attention parameter");
    let digits = param["value"].as_str().unwrap();
    assert_eq!(digits.len() % 4, 0);
    digits
        .as_bytes()
        .chunks(4)
        .map(|d| std::str::from_utf8(d).unwrap().parse::<u32>().unwrap() as f64 / 9999.0)
        .collect()
}

#[test]
fn the_attention_view_carries_every_attention_value_in_order() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(
            &bert
                .tokenizer()
                .encode_pair("i read", "a good novel")
                .unwrap(),
        )
        .unwrap();
    let view = out.attention_view().unwrap();
    let spec = view.spec();
    let tokens = spec["datasets"]["tokens"].as_array().unwrap();
    let n = tokens.len();
    assert_eq!(n, 8);
    let words: Vec<&str> = tokens.iter().map(|t| t["t"].as_str().unwrap()).collect();
    assert_eq!(words, out.real_tokens(0).unwrap());
    let segments: Vec<u64> = tokens.iter().map(|t| t["s"].as_u64().unwrap()).collect();
    assert_eq!(segments, [0, 0, 0, 0, 1, 1, 1, 1]);
    let values = carried(spec);
    assert_eq!(values.len(), 2 * 4 * n * n);
    for layer in 0..2 {
        for head in 0..4 {
            let map = out.attention(0, layer, head).unwrap();
            for (i, row) in map.iter().enumerate() {
                for (j, &p) in row.iter().enumerate() {
                    let got = values[((layer * 4 + head) * n + i) * n + j];
                    assert!(
                        (got - f64::from(p)).abs() <= 5.1e-5,
                        "l{layer} h{head} [{i}][{j}]"
                    );
                }
            }
        }
    }
    assert_eq!(spec["params"][1]["bind"]["max"], 1);
    assert_eq!(spec["params"][2]["bind"]["max"], 3);
    assert_eq!(spec["params"][1]["value"], 1, "opens on the last layer");
    // The model view carries the same values.
    assert_eq!(carried(out.model_view().unwrap().spec()), values);
    assert!(
        view.to_string()
            .contains("2 layers × 4 heads over 8 tokens")
    );
    assert_eq!(
        view.fallback().title(),
        "Attention, layer 1, head 0 (rows attend to columns)"
    );
}

#[test]
fn a_text_too_long_for_the_view_says_how_long_fits_real_model() {
    let bert = minilm();
    let out = bert
        .forward(&bert.tokenizer().encode(&"word ".repeat(60)).unwrap())
        .unwrap();
    let err = out.attention_view().unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }));
    let text = err.to_string();
    assert!(
        text.contains("6 layers × 12 heads × 62² token pairs")
            && text.contains("at most 42 tokens")
            && text.contains("out.attention_heatmap(layer, head)"),
        "{text}"
    );
    // 42 tokens fit.
    let out = bert
        .forward(&bert.tokenizer().encode(&"word ".repeat(40)).unwrap())
        .unwrap();
    assert!(out.attention_view().is_ok());
}

#[test]
fn a_sequence_out_of_range_is_an_error() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("i read").unwrap())
        .unwrap();
    assert!(matches!(
        out.attention_view_of(3).unwrap_err(),
        Error::OutOfRange {
            what: "sequence",
            index: 3,
            len: 1
        }
    ));
}

#[test]
fn an_opened_head_gives_the_forward_pass_s_attention() {
    let (_dir, bert) = tiny_bert();
    let enc = bert
        .tokenizer()
        .encode_pair("i read", "a good novel")
        .unwrap();
    let out = bert.forward(&enc).unwrap();
    for layer in 0..2 {
        for head in 0..4 {
            let opened = bert.attention_head(&enc, layer, head).unwrap();
            assert_eq!(opened.tokens(), out.real_tokens(0).unwrap());
            assert_eq!(opened.queries().len(), 8);
            assert_eq!(opened.keys()[0].len(), 4, "head size 16 / 4");
            let want = out.attention(0, layer, head).unwrap();
            for (got_row, want_row) in opened.attention().iter().zip(&want) {
                for (got, want) in got_row.iter().zip(want_row) {
                    assert!((got - want).abs() < 1e-5, "layer {layer} head {head}");
                }
            }
        }
    }
    let opened = bert.attention_head(&enc, 1, 2).unwrap();
    let view = opened.view();
    let keys: Vec<f64> = view.spec()["datasets"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let want: Vec<f32> = opened.keys().iter().flatten().copied().collect();
    assert_eq!(keys.len(), want.len());
    assert!(
        keys.iter()
            .zip(&want)
            .all(|(a, b)| (a - f64::from(*b)).abs() <= 5e-5)
    );
    assert_eq!(
        view.spec()["params"][1]["value"].as_array().unwrap().len(),
        8
    );
    assert!(matches!(
        bert.neuron_view(&enc, 2, 0).unwrap_err(),
        Error::OutOfRange {
            what: "layer",
            index: 2,
            len: 2
        }
    ));
    assert!(matches!(
        bert.neuron_view(&enc, 0, usize::MAX).unwrap_err(),
        Error::OutOfRange { what: "head", .. }
    ));
}

#[test]
fn every_view_has_a_png_of_its_size_with_its_picture_in_colour() {
    let (_dir, bert) = tiny_bert();
    let enc = bert.tokenizer().encode("i read a good novel .").unwrap();
    let out = bert.forward(&enc).unwrap();
    for view in [
        out.attention_view().unwrap(),
        out.model_view().unwrap(),
        bert.neuron_view(&enc, 1, 2).unwrap(),
        LayerPredictions::sample().view(),
    ] {
        let plot = view.fallback();
        let (width, height, pixels, channels) = decode_png(&plot.to_png().unwrap());
        assert_eq!((width, height), plot.size(), "{view}");
        // Heatmap cells and curves are coloured; text and axes are grey.
        let coloured = pixels
            .chunks(channels)
            .filter(|p| p[0].abs_diff(p[1]) > 30 || p[1].abs_diff(p[2]) > 30)
            .count();
        let share = coloured as f64 / f64::from(width * height);
        assert!(share > 0.01, "{view}: {share:.3} of the picture coloured");
    }
}
