//! Plots of model outputs: SVG, small, labelled with tokens. On a tiny generated model, except
//! where the meaning of the numbers matters (named `*_real_model`).

use crate::util::{decode_png, minilm, tiny_bert};
use transformer_nb::prelude::*;

#[test]
fn attention_heatmap_labels_both_axes_with_the_tokens() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("I read a good novel.").unwrap())
        .unwrap();
    let svg = out.attention_heatmap(1, 3).unwrap().to_svg();
    assert!(svg.starts_with("<svg"));
    for token in ["[CLS]", "read", "novel", "[SEP]"] {
        assert_eq!(
            svg.matches(&format!("\n{token}\n</text>")).count(),
            2,
            "{token} on both axes"
        );
    }
}

#[test]
fn attention_heads_draws_every_head() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("I read a good novel.").unwrap())
        .unwrap();
    let svg = out.attention_heads(0).unwrap().to_svg();
    assert_eq!(svg.matches("<image").count(), 4 + 1);
    assert!(svg.contains("head 3") && !svg.contains("head 4"));
}

#[test]
fn padded_sequences_plot_only_their_real_tokens() {
    let (_dir, bert) = tiny_bert();
    let batch = bert
        .tokenizer()
        .encode_batch(&["a cat", "a much longer sentence here"])
        .unwrap();
    let out = bert.forward_batch(&batch).unwrap();
    let map = out.attention(0, 0, 0).unwrap();
    assert_eq!(map.len(), 4, "[CLS] a cat [SEP], no padding");
    let svg = out.attention_heatmap_of(0, 0, 0).unwrap().to_svg();
    assert!(!svg.contains("[PAD]"));
}

#[test]
fn attention_rows_are_probabilities_and_ignore_padding() {
    let (_dir, bert) = tiny_bert();
    let batch = bert
        .tokenizer()
        .encode_batch(&["a cat", "a much longer sentence here"])
        .unwrap();
    let out = bert.forward_batch(&batch).unwrap();
    let full: Vec<Vec<f32>> = out.attentions()[1]
        .get(0)
        .unwrap()
        .get(0)
        .unwrap()
        .to_vec2()
        .unwrap();
    for row in &full[..4] {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(
            row[4..].iter().all(|&p| p == 0.0),
            "padding gets no attention"
        );
    }
}

#[test]
fn similarity_heatmap_of_embeddings_names_the_sentences_real_model() {
    let emb = minilm()
        .embed(&[
            "I read a good novel.",
            "I enjoyed a great book.",
            "Stocks fell.",
        ])
        .unwrap();
    let sim = emb.similarity().unwrap();
    assert!(
        sim[0][1] > sim[0][2],
        "novel/book closer than novel/stocks: {sim:?}"
    );
    let svg = emb.heatmap().to_svg();
    assert!(svg.contains("I enjoyed a great book."));
}

#[test]
fn attention_pictures_are_pngs_of_their_size_with_the_map_in_colour() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("I read a good novel.").unwrap())
        .unwrap();
    for plot in [
        out.attention_heatmap(1, 3).unwrap(),
        out.attention_heads(0).unwrap(),
    ] {
        let (width, height, pixels, channels) = decode_png(&plot.to_png().unwrap());
        assert_eq!((width, height), plot.size());
        // Viridis cells are coloured (not grey like text and axes): a large share of pixels.
        let coloured = pixels
            .chunks(channels)
            .filter(|p| p[0].abs_diff(p[1]) > 30 || p[1].abs_diff(p[2]) > 30)
            .count();
        let share = coloured as f64 / f64::from(width * height);
        assert!(share > 0.3, "{}: {share:.2} coloured", plot.title());
    }
}

/// `(x, y, height)` of each `<image>` in an SVG: the matrices' cells and the colour bar.
fn images(svg: &str) -> Vec<(f64, f64, f64)> {
    let attr = |tag: &str, name: &str| -> f64 {
        let start = tag.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        tag[start..].split('"').next().unwrap().parse().unwrap()
    };
    svg.split("<image")
        .skip(1)
        .map(|tag| (attr(tag, "x"), attr(tag, "y"), attr(tag, "height")))
        .collect()
}

#[test]
fn the_colour_bar_is_as_tall_as_the_matrices_beside_it() {
    let (_dir, bert) = tiny_bert();
    let out = bert
        .forward(&bert.tokenizer().encode("I read a good novel.").unwrap())
        .unwrap();
    let single = images(&out.attention_heatmap(1, 0).unwrap().to_svg());
    let [(_, y, h), (_, bar_y, bar_h)] = single[..] else {
        panic!("cells and colour bar: {single:?}")
    };
    assert!(
        (y - bar_y).abs() <= 1.0 && (h - bar_h).abs() <= 1.0,
        "{single:?}"
    );
    // The grid's bar runs from the first row of panels' top to the last row's bottom.
    let grid = images(&out.attention_heads(0).unwrap().to_svg());
    let (bar, panels) = grid.split_last().unwrap();
    let top = panels.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let bottom = panels.iter().map(|p| p.1 + p.2).fold(0.0, f64::max);
    assert!(
        (bar.1 - top).abs() <= 1.0 && (bar.1 + bar.2 - bottom).abs() <= 1.0,
        "{grid:?}"
    );
}

#[test]
fn tick_labels_stand_apart_from_their_ticks() {
    let svg = positional_encoding(50, 128).unwrap().heatmap().to_svg();
    // The colour bar's labels: text left-aligned at x, after a tick ending at x1 on its row.
    let mut checked = 0;
    for part in svg.split("<text x=\"").skip(1) {
        let x: f64 = part.split('"').next().unwrap().parse().unwrap();
        let y: f64 = part
            .split("y=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let label = part
            .split('>')
            .nth(1)
            .unwrap()
            .trim()
            .split('<')
            .next()
            .unwrap()
            .trim();
        if !part.contains("text-anchor=\"start\"") || label.parse::<f64>().is_err() {
            continue;
        }
        let tick_end = svg
            .split("points=\"")
            .skip(1)
            .filter_map(|p| {
                let pts: Vec<f64> = p
                    .split('"')
                    .next()?
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect();
                (pts.len() == 4 && pts[1] == pts[3] && (pts[1] - y).abs() <= 1.0).then(|| pts[2])
            })
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            x - tick_end >= 3.0,
            "label {label} at {x}, tick to {tick_end}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "colour-bar labels found: {checked}");
    assert!(!svg.contains(">\n-0.00\n<") && !svg.contains(">\n-0\n<"));
}

#[test]
fn every_token_is_labelled_in_a_grid_of_small_panels() {
    let (_dir, bert) = tiny_bert();
    // Fifteen tokens (the grid labels up to sixteen): cells smaller than the label font, where
    // no label may be skipped.
    let enc = bert
        .tokenizer()
        .encode("I read a good novel. A good novel. I read a novel")
        .unwrap();
    assert!(enc.len() > 12, "{:?}", enc.tokens());
    let out = bert.forward(&enc).unwrap();
    let svg = out.attention_heads(0).unwrap().to_svg();
    let heads = images(&svg).len() - 1;
    for token in enc.tokens() {
        let times = enc.tokens().iter().filter(|t| *t == token).count();
        assert_eq!(
            svg.matches(&format!("\n{token}\n</text>")).count(),
            2 * heads * times,
            "{token} on both axes of every head: {:?}",
            enc.tokens()
        );
    }
}

#[test]
fn a_learners_curves_and_matrix_draw_with_their_labels() {
    let loss: Vec<(f64, f64)> = (0..40)
        .map(|s| (s as f64, (-0.1 * s as f64).exp()))
        .collect();
    let accuracy: Vec<(f64, f64)> = (0..40)
        .map(|s| (s as f64, 1.0 - 0.5 * (-0.2 * s as f64).exp()))
        .collect();
    let plot = Plot::lines(
        "Training",
        "step",
        "value",
        &[("loss", loss), ("accuracy", accuracy)],
    )
    .unwrap();
    let svg = plot.to_svg();
    for text in ["Training", "step", "value", "loss", "accuracy"] {
        assert!(svg.contains(text), "{text} missing");
    }
    let (width, height, _, _) = decode_png(&plot.to_png().unwrap());
    assert_eq!((width, height), plot.size());
    let nan = vec![(0.0, f64::NAN)];
    let err = Plot::lines("t", "x", "y", &[("diverged", nan)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("diverged") && err.contains("NaN"), "{err}");

    let counts = vec![
        vec![7.0, 1.0, 0.0],
        vec![2.0, 5.0, 1.0],
        vec![0.0, 0.0, 8.0],
    ];
    let names = ["sport", "food", "weather"];
    let plot = Plot::matrix("Confusion matrix", &counts, &names, &names).unwrap();
    let svg = plot.to_svg();
    for text in [
        "Confusion matrix",
        "sport",
        "food",
        "weather",
        ">\n7\n</text>",
        ">\n8\n</text>",
        ">\n2\n</text>",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    let (width, height, _, _) = decode_png(&plot.to_png().unwrap());
    assert_eq!((width, height), plot.size());
    let ragged = vec![vec![1.0, 2.0], vec![3.0]];
    assert!(Plot::matrix("r", &ragged, &["a", "b"], &["a", "b"]).is_err());
    let err = Plot::matrix("m", &counts, &names[..2], &names)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one label per row"), "{err}");
    if let Ok(dir) = std::env::var("TRANSFORMER_NB_PICTURES") {
        std::fs::write(format!("{dir}/matrix.png"), plot.to_png().unwrap()).unwrap();
        let lines = Plot::lines(
            "Training",
            "step",
            "loss",
            &[(
                "train",
                (0..40)
                    .map(|s| (s as f64, (-0.1 * s as f64).exp()))
                    .collect(),
            )],
        )
        .unwrap();
        std::fs::write(format!("{dir}/lines.png"), lines.to_png().unwrap()).unwrap();
    }
}
