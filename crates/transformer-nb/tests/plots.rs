//! Plots of model outputs: SVG, small, labelled with tokens. On a tiny generated model, except
//! where the meaning of the numbers matters (named `*_real_model`).

mod util;

use util::{decode_png, minilm, tiny_bert};

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
