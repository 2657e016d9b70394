//! The library's words in Vietnamese when a notebook asks: table headers, plot titles, axis
//! labels, captions and the error messages notebooks show, and English again after. Its own test binary, because the language is
//! the process's.

mod util;

use transformer_nb::prelude::*;
use util::tiny_bert;

#[test]
fn tables_and_pictures_speak_the_language_asked_for() {
    let (_dir, bert) = tiny_bert();
    let enc = bert.tokenizer().encode("i read a good novel.").unwrap();
    let out = bert.forward(&enc).unwrap();
    let pe = positional_encoding(8, 16).unwrap();
    let emb = bert.embed(&["a cat", "a dog"]).unwrap();
    let say_all = || {
        [
            enc.to_html(),
            bert.tokenizer()
                .encode_batch(&["a cat", "a good novel"])
                .unwrap()
                .to_html(),
            out.to_html(),
            bert.summary().to_html(),
            pe.heatmap().to_svg(),
            pe.curves(&[0, 1]).to_svg(),
            out.attention_heatmap(1, 0).unwrap().to_svg(),
            out.attention_heads(1).unwrap().to_svg(),
            emb.heatmap().to_svg(),
        ]
        .join("\n")
    };

    // What a view's expressions refer to (its params, datasets and fields) is the same in every
    // language: only the words a learner reads change.
    let names = || {
        let views = [
            out.attention_view().unwrap(),
            out.model_view().unwrap(),
            bert.neuron_view(&enc, 1, 0).unwrap(),
        ];
        views
            .iter()
            .map(|view| {
                let params = view.spec()["params"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                params
                    .iter()
                    .map(|p| p["name"].to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
    };
    let english_names = names();
    let english = say_all();
    for words in [
        "position",
        "attention mask",
        "parameters",
        "Positional encoding",
        "Attention, layer 1",
        "Cosine similarity",
    ] {
        assert!(english.contains(words), "{words} missing in English");
    }

    set_language(Language::Vi);
    assert_eq!(transformer_nb::language::language(), Language::Vi);
    let vietnamese = say_all();
    for words in [
        "vị trí",
        "mặt nạ",
        "tham số",
        "Mã hóa vị trí",
        "Attention, lớp 1",
        "Độ tương đồng cosine",
    ] {
        assert!(vietnamese.contains(words), "{words} missing in Vietnamese");
    }
    for words in [
        ">position<",
        ">parameters<",
        "Positional encoding",
        "layer 1",
        "Cosine similarity",
        ">shape<",
        ">total<",
    ] {
        assert!(!vietnamese.contains(words), "{words} is still English");
    }
    let errors = [
        out.attention_heatmap(1, 99).unwrap_err().to_string(),
        out.attention_heatmap(9, 0).unwrap_err().to_string(),
        positional_encoding(50, 127).unwrap_err().to_string(),
    ];
    assert_eq!(
        errors[0],
        "head 99 nằm ngoài phạm vi: giá trị hợp lệ là 0..4"
    );
    assert_eq!(errors[1], "lớp 9 nằm ngoài phạm vi: giá trị hợp lệ là 0..2");
    assert!(
        errors[2].contains("phải chẵn") && errors[2].contains("126 hoặc 128"),
        "{}",
        errors[2]
    );
    assert_eq!(names(), english_names, "a view's params were renamed");
    // The data stays as it is.
    assert!(vietnamese.contains("[CLS]") && vietnamese.contains("novel"));

    set_language(Language::En);
    assert_eq!(say_all(), english);
    let err = out.attention_heatmap(1, 99).unwrap_err().to_string();
    assert_eq!(err, "head 99 is out of range: valid values are 0..4");
}
