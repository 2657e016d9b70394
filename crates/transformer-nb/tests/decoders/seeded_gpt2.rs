//! The seeded GPT-2 of scripts/make-references.py, written by `crate::util::write_seeded_gpt2`: its
//! weights are the Python LCG stream bit for bit, under the Hub's gpt2 names, with the config
//! HF loaded (tests/reference/gpt2-seeded.json), so HF's outputs there are its reference.

use std::collections::HashSet;

use crate::util::{gpt2_seeded_reference, smollm2_reference, write_seeded_gpt2};
use candle_core::Device;

#[test]
fn seeded_gpt2_weights_are_the_python_lcg_stream_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    write_seeded_gpt2(dir.path());
    let reference = gpt2_seeded_reference();
    let tensors =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    let probes = reference["weight_probes"].as_object().unwrap();
    let names: HashSet<&str> = tensors.keys().map(String::as_str).collect();
    let expected: HashSet<&str> = probes.keys().map(String::as_str).collect();
    assert_eq!(names, expected, "tensor names");
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("transformer.") && !n.starts_with("lm_head"))
    );
    for (name, probe) in probes {
        let tensor = &tensors[name];
        let shape: Vec<usize> = crate::util::as_u32s(&probe["shape"])
            .into_iter()
            .map(|d| d as usize)
            .collect();
        assert_eq!(tensor.dims(), shape.as_slice(), "{name}: shape");
        let values = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let first: Vec<u32> = crate::util::as_f32s(&probe["first"])
            .iter()
            .map(|v| v.to_bits())
            .collect();
        let got: Vec<u32> = values[..4].iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, first, "{name}: first values");
        let bits_sum: u64 = values.iter().map(|v| u64::from(v.to_bits())).sum();
        assert_eq!(
            bits_sum,
            probe["bits_sum"].as_u64().unwrap(),
            "{name}: bits_sum"
        );
    }
    // The generation order is the reference's too.
    let order: Vec<String> = reference["tensor_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = crate::util::gpt2_tensor_shapes()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(ours, order);
}

#[test]
fn seeded_gpt2_folder_has_hf_s_config_and_gpt2_s_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    write_seeded_gpt2(dir.path());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config, gpt2_seeded_reference()["config"]);
    let vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("vocab.json")).unwrap())
            .unwrap();
    assert_eq!(vocab.len(), crate::util::GPT2_VOCAB);
    assert_eq!(vocab["<|endoftext|>"], 50256);
    let merges = std::fs::read_to_string(dir.path().join("merges.txt")).unwrap();
    assert!(merges.starts_with("#version: 0.2"));
    // The reference's first text tokenizes as GPT-2 does ("Hello" is 15496, " world" 995).
    let first = &gpt2_seeded_reference()["texts"][0];
    assert_eq!(crate::util::as_u32s(&first["ids"])[..2], [15496, 995]);
}

#[test]
fn smollm2_reference_is_complete() {
    let r = smollm2_reference();
    let config = &r["config"];
    let (layers, heads) = (
        config["num_hidden_layers"].as_u64().unwrap() as usize,
        config["num_attention_heads"].as_u64().unwrap() as usize,
    );
    assert_eq!((layers, heads), (30, 9));
    for prompt in r["prompts"].as_array().unwrap() {
        let n = prompt["ids"].as_array().unwrap().len();
        assert_eq!(
            prompt["hidden_states"].as_array().unwrap().len(),
            layers + 1
        );
        let attentions = prompt["attentions"].as_array().unwrap();
        assert_eq!(attentions.len(), layers);
        assert_eq!(attentions[0].as_array().unwrap().len(), heads);
        assert_eq!(attentions[0][0][0].as_array().unwrap().len(), n);
        assert_eq!(prompt["logits"]["top_ids"].as_array().unwrap().len(), n);
    }
    assert_eq!(
        r["chats"][0]["generation"]["text_skip_special"],
        "The capital of France is Paris."
    );
}
