//! Chat templates rendered by our interpreter against Python's jinja2, set up as transformers
//! sets it up. `reference/chat_templates.json` holds the templates (SmolLM2's, from its GGUF
//! file, and three that use more of Jinja) and what jinja2 3.1.6 rendered for five
//! conversations, with and without the generation prompt. It was made once with
//! `python make.py templates.json > chat_templates.json`, `make.py` being:
//!
//! ```python
//! # Renders chat templates with jinja2 set up as transformers sets it up
//! # (transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment, trim_blocks,
//! # lstrip_blocks, loopcontrols, raise_exception, tojson as json.dumps).
//! import json, sys
//! from jinja2.sandbox import ImmutableSandboxedEnvironment
//! from jinja2.ext import loopcontrols
//!
//! def raise_exception(message):
//!     raise ValueError(message)
//!
//! env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
//! env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
//! env.globals["raise_exception"] = raise_exception
//!
//! templates = json.load(open(sys.argv[1]))
//! conversations = [
//!     [{"role": "user", "content": "Hi!"}],
//!     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}],
//!     [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi! How can I help?"},
//!      {"role": "user", "content": "Tell me a joke.\nA short one."}],
//!     [{"role": "system", "content": "  Tôi là trợ lý.  "}, {"role": "user", "content": "Xin chào 👋"},
//!      {"role": "assistant", "content": "Chào bạn!\n\n"}, {"role": "user", "content": "'quotes' and \"more\""}],
//!     [],
//! ]
//! cases = []
//! for name, source in templates.items():
//!     template = env.from_string(source)
//!     for messages in conversations:
//!         for add_generation_prompt in (False, True):
//!             try:
//!                 expected = template.render(messages=messages, add_generation_prompt=add_generation_prompt,
//!                                            bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>")
//!                 error = None
//!             except Exception as e:
//!                 expected, error = None, str(e)
//!             cases.append({"template": name, "messages": messages,
//!                           "add_generation_prompt": add_generation_prompt,
//!                           "expected": expected, "error": error})
//! json.dump({"templates": templates, "cases": cases}, sys.stdout, ensure_ascii=False, indent=1)
//! ```

use std::path::Path;

use serde_json::Value;
use transformer_nb::prelude::*;

/// A tiny byte-level tokenizer whose `tokenizer_config.json` holds `template`.
fn with_template(dir: &Path, template: &str) -> Tokenizer {
    let added = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true})
    };
    let file = serde_json::json!({
        "added_tokens": [added(2, "<|im_start|>"), added(3, "<|im_end|>")],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
            "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
    });
    std::fs::write(dir.join("tokenizer.json"), file.to_string()).unwrap();
    let config = serde_json::json!({"chat_template": template, "bos_token": "<|im_start|>",
        "eos_token": {"content": "<|im_end|>", "__type": "AddedToken"}, "pad_token": "<|im_end|>"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    Tokenizer::from_dir(dir).unwrap()
}

#[test]
fn templates_render_as_jinja2_renders_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/chat_templates.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (name, template) in reference["templates"].as_object().unwrap() {
        let tok = with_template(dir.path(), template.as_str().unwrap());
        for case in reference["cases"].as_array().unwrap() {
            if case["template"] != name.as_str() {
                continue;
            }
            let messages: Vec<ChatMessage> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect();
            let prompt = case["add_generation_prompt"].as_bool().unwrap();
            let ours = tok.apply_chat_template(&messages, prompt);
            match (&case["expected"], ours) {
                (Value::String(expected), Ok(ours)) => {
                    assert_eq!(
                        &ours,
                        expected,
                        "{name}, {} messages, {prompt}",
                        messages.len()
                    );
                }
                (Value::Null, Err(err)) => {
                    let theirs = case["error"].as_str().unwrap();
                    if theirs.contains("alternate") {
                        assert!(err.to_string().contains(theirs), "{err} vs {theirs}");
                    }
                }
                (expected, ours) => panic!("{name}: jinja2 gave {expected}, we {ours:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 40);
}

#[test]
fn smollm2_adds_its_default_system_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/chat_templates.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tok = with_template(
        dir.path(),
        reference["templates"]["smollm2"].as_str().unwrap(),
    );
    let text = tok
        .apply_chat_template(&[ChatMessage::user("Hi!")], true)
        .unwrap();
    assert!(text.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
    assert!(text.ends_with("<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n"));
    let ids = tok.encode_chat(&[ChatMessage::user("ab")], false).unwrap();
    assert_eq!(ids.ids()[0], 2);
}

#[test]
fn what_the_renderer_cannot_do_is_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    for (template, says) in [
        ("{% macro m() %}x{% endmacro %}", "{% macro %}"),
        ("{{ messages | map(attribute='role') }}", "the filter map"),
        ("{{ strftime_now('%Y') }}", "strftime_now"),
        ("{% if x %}", "has no {% endif %}"),
        ("{{ 'a' + 1 }}", "`+` between a string and an integer"),
        ("{{ messages.x.y }}", "undefined value has no attribute y"),
    ] {
        let tok = with_template(dir.path(), template);
        let err = tok
            .apply_chat_template(&[ChatMessage::user("Hi")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{template}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), r#"{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#).unwrap();
    let err = Tokenizer::from_dir(dir.path())
        .unwrap()
        .apply_chat_template(&[], true)
        .unwrap_err();
    assert!(err.to_string().contains("has no chat template"), "{err}");
}
