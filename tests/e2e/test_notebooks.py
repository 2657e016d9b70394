"""Every notebook, executed top to bottom in the transformer-nb kernel through nbclient, with
assertions on what a learner sees."""

import base64
import queue
import re
import shutil
import time

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import KERNEL, NOTEBOOKS, artifacts_dir, outputs, texts


# Asked for bf16 on a CPU without AVX512_BF16, a model stays f32 and says so on stderr
# (notebook 04): that line is what a learner should see there, not an error.
BF16_UNAVAILABLE = "transformer-nb: bf16 needs AVX-512 with AVX512_BF16"
CPU_HAS_BF16 = any(line.startswith("flags") and " avx512_bf16" in line
                   for line in open("/proc/cpuinfo", encoding="utf-8"))


def execute(name):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=1800,
        startup_timeout=120,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        out = artifacts_dir("notebooks") / path.name
        nbformat.write(nb, out)
    errors = [o for o in outputs(nb) if o.output_type == "error" or getattr(o, "name", "") == "stderr"
              and not (o.text.startswith(BF16_UNAVAILABLE) and not CPU_HAS_BF16)]
    assert not errors, f"{name} wrote errors: {errors}"
    # A cell ending in a loop or a match of println!s shows its prints, not a stray "()".
    units = [o for o in outputs(nb) if o.output_type == "execute_result"
             and o.data.get("text/plain") == "()"]
    assert not units, f"{name} shows () as a result"
    return nb


def svgs(nb):
    """Every picture's SVG; each picture must also carry its PNG, for untrusted front ends."""
    pictures = texts(nb, "image/svg+xml")
    pngs = texts(nb, "image/png")
    assert len(pngs) == len(pictures), f"{len(pngs)} PNGs for {len(pictures)} pictures"
    assert all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    return pictures


def html(nb):
    return "\n".join(texts(nb, "text/html"))


def stdout(nb):
    return "".join(texts(nb, "text/plain"))


def test_tutorial_shows_tokens_ids_mask_and_plots():
    nb = execute("00-tutorial.ipynb")
    table = html(nb)
    assert "[CLS]" in table and "[SEP]" in table and "attention mask" in table
    assert "[PAD]" in table, "the padded batch is shown"
    out = stdout(nb)
    assert "input ids:      [101, 1045, 3191, 1037, 2204, 3117, 1012, 102]" in out
    assert 'tokens:         ["[CLS]", "i", "read", "a", "good", "novel", ".", "[SEP]"]' in out
    assert "attention mask: [1, 1, 1, 1, 1, 1, 1, 1]" in out
    plots = svgs(nb)
    assert len(plots) >= 3, "heatmap, curves, attention"
    assert all(p.lstrip().startswith("<svg") for p in plots)
    assert any("Positional encoding (50 positions × 128 dimensions" in p for p in plots)
    assert "22,713,216" in table, "the tutorial's check of memory usage"
    assert '" Paris"' in out, "the tour's decoder finishes the sentence"


def test_vietnamese_tutorial_runs_and_shows_the_same_things():
    nb = execute("vi/00-huong-dan.ipynb")
    assert "[CLS]" in html(nb)
    assert "đ" in html(nb), "the Vietnamese sentence is tokenized and shown"
    assert len(svgs(nb)) >= 3
    assert "22,713,216" in html(nb) and '" Paris"' in stdout(nb), "memory and the model tour"
    assert_library_speaks_vietnamese(nb)


def test_tokenization_notebook_shows_subwords_pairs_and_truncation():
    nb = execute("01-tokenization.ipynb")
    table = html(nb)
    assert "##ization" in table
    assert "[UNK]" in table
    out = stdout(nb)
    assert "512 tokens, truncated: true" in out
    assert re.search(r"##ization\s+5\.\.12", out), "offsets are shown"


def test_positional_notebook_plots_and_explains_errors():
    nb = execute("02-positional-encoding.ipynb")
    assert len(svgs(nb)) >= 4
    out = stdout(nb)
    assert "error: positional_encoding: d_model = 127 is odd" in out
    assert "distance  0: PE(10)·PE(10) =  64.00" in out


def test_forward_notebook_shows_layers_attention_and_a_readable_error():
    nb = execute("03-bert-forward.ipynb")
    out = stdout(nb)
    assert out.count("layer ") >= 7
    assert "error: head 99 is out of range: valid values are 0..12" in out
    plots = svgs(nb)
    assert len(plots) >= 3
    assert any("head 11" in p for p in plots), "all heads of a layer"
    assert "last_hidden_state" in html(nb)


def test_embeddings_notebook_finds_the_right_neighbours():
    nb = execute("04-sentence-embeddings.ipynb")
    out = stdout(nb)
    assert re.search(r"I enjoyed a great book\.\s+-> I read a good novel\.", out), out
    assert re.search(r"The stock market fell sharply today\.\s+-> Shares dropped", out), out
    assert any("Cosine similarity" in p for p in svgs(nb))
    # The bf16 section: the precision the CPU allows, each sentence's vector in both, and the
    # neighbours unchanged.
    assert f"running in {'bf16' if CPU_HAS_BF16 else 'f32'}; weights held:" in out, out
    cosines = [float(c) for c in re.findall(r"cosine\(f32, bf16\) = ([0-9.]+)", out)]
    assert len(cosines) == 6 and all(0.9999 <= c <= 1.000001 for c in cosines), cosines
    assert "same nearest neighbours: true" in out, out
    assert re.search(r"one embed: f32 [0-9.]+.?s, (bf16|f32) [0-9.]+.?s", out), out


# What the library writes, in English and (after set_language(Language::Vi)) in Vietnamese.
WORDS = {
    "head view": ("Attention: pick a layer and a head; hover a token",
                  "Attention: chọn một lớp và một head; rê chuột lên một token"),
    "model view": ("Every head of every layer", "Mọi head của mọi lớp"),
    "neuron view": ("Layer {}, head {}", "Lớp {}, head {}"),
    "next token": ("What comes after «The capital of France is»",
                   "Sau «The capital of France is» là gì"),
    "generation": ("generated tokens, each shaded by the probability the model gave it",
                   "token được sinh, mỗi token tô màu theo xác suất mô hình cho nó"),
    "logit lens": ("Logit lens: what each layer would predict next",
                   "Logit lens: mỗi lớp sẽ dự đoán token tiếp theo là gì"),
    "tied": ("tied weights", "trọng số dùng chung"),
    "per word": ("tokens per word", "token mỗi từ"),
}


def assert_explores_attention(nb, vi=False):
    """What notebooks 05 show: the summary, four interactive views, the long-text message, and
    (offline, no masked-LM checkpoint) one line saying fill-mask is skipped."""
    specs = texts(nb, "application/vnd.vegalite.v5+json")
    assert texts(nb, "application/vnd.vegalite.v4+json") == specs
    titles = [spec["title"]["text"] for spec in specs]
    head_view = WORDS["head view"][vi]
    assert titles[:2] == [head_view] * 2, titles
    assert titles[2].startswith(WORDS["model view"][vi]), titles
    assert titles[3].startswith(WORDS["neuron view"][vi].format(2, 5)), titles
    tokens = [t["t"] for t in specs[0]["datasets"]["tokens"]]
    assert tokens[:4] == ["[CLS]", "the", "cat", "sat"] and "it" in tokens
    assert "22,713,216" in html(nb)
    out = stdout(nb)
    assert "forward of  8 × 128 tokens: about   64.5 MB of activations" in out, out
    assert "at most 42 tokens" in out
    skipped = [line for line in out.splitlines() if line.startswith("Fill-mask is skipped")]
    assert len(skipped) == 1 and "bert-base-uncased" in skipped[0], out
    assert not any("[MASK]" in t for t in texts(nb, "text/html")), "nothing to fill offline"


def test_explore_notebook_shows_views_summary_and_skips_fill_mask_offline():
    assert_explores_attention(execute("05-explore-attention.ipynb"))


def test_vietnamese_explore_notebook_shows_the_same():
    nb = execute("vi/05-kham-pha-attention.ipynb")
    assert_explores_attention(nb, vi=True)
    markdown = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Khám phá bên trong BERT" in markdown
    assert_library_speaks_vietnamese(nb)


def assert_rebuilds_a_layer(nb):
    """Notebook 07 and its twin: the example to check by hand, a real head, a whole layer equal
    to forward's, the padding mask at work, and the same head before training."""
    out = stdout(nb)
    assert re.search(r"the\s+0\.506\s+0\.186\s+0\.307", out), "the softmax a learner checks"
    differences = [float(x) for x in re.findall(r": (\d+\.\de-?\d+)\n", out)]
    assert len(differences) >= 3 and all(d < 1e-5 for d in differences), differences
    padded = re.search(r"\[CLS\]((?:\s+\d\.\d{3}){8})", out.split("[PAD]    [PAD]    [PAD]")[1])
    assert padded and padded.group(1).split()[-3:] == ["0.000"] * 3, "[PAD] columns are 0"
    unmasked = re.findall(r"(?:without the mask|không có mask)[^\n]*?(\d+\.\d+)\n", out)
    assert unmasked and float(unmasked[0]) > 0.01, "leaving the mask out changes the vectors"
    rows = {
        kind: [float(x) for x in values.split(",")]
        for kind, values in re.findall(r"(untrained|chưa huấn luyện|trained|đã huấn luyện) *: \[([^\]]+)\]", out)
    }
    untrained = rows.get("untrained") or rows["chưa huấn luyện"]
    trained = rows.get("trained") or rows["đã huấn luyện"]
    assert len(untrained) == 8 and all(0.05 < w < 0.25 for w in untrained), "random weights: near 1/8 each"
    assert max(trained) > 0.5, "the trained head is sharp"
    assert len(svgs(nb)) == 2, "the real head, and the untrained one"


def test_attention_by_hand_notebook_rebuilds_a_layer_and_shows_the_mask():
    assert_rebuilds_a_layer(execute("07-attention-by-hand.ipynb"))


def assert_trains_a_classifier(nb):
    """Notebook 08 and its twin: a falling loss, an accuracy on the test set that beats chance by
    far, the loss curve and the confusion matrix as pictures, a prediction for one sentence."""
    out = stdout(nb)
    start, train, test = (float(x) for x in re.search(
        r"(1\.386)\D+?(\d\.\d{3})\D+?(\d\.\d{3})", out).groups())
    assert train < start / 4 and test < start / 2, (start, train, test)
    right, total = (int(x) for x in re.search(r"(\d+) (?:of|trên) (\d+) = \d+%", out).groups())
    assert total == 24 and right >= 18, (right, total)
    plots = svgs(nb)
    assert len(plots) == 2, "the loss curve and the confusion matrix"
    assert all(topic in plots[1] for topic in ("sport", "food", "weather", "technology"))
    assert re.search(r"weather:\s+\d+\.\d%", out), "the learner's sentence gets probabilities"


def test_classifier_notebook_trains_a_head_and_tests_it():
    assert_trains_a_classifier(execute("08-train-a-classifier.ipynb"))


# The library's own words that must not be English in a Vietnamese notebook
# (set_language(Language::Vi)): table headers and captions, plot titles and axis labels.
ENGLISH_LIBRARY_WORDS = [
    ">position<", ">attention mask<", ">type id<", ">text<", ">output<", ">shape<", ">module<",
    ">parameters<", ">total<", ">bytes<", "Truncated", "Positional encoding", "Attention, layer",
    "Attention of every head", "Cosine similarity", "Dot product of position", ">Position<",
    "Logit lens: each", "What comes after", "generated tokens, each shaded",
    "The probability of each generated token", ">next token", "The key/value cache",
]


def assert_library_speaks_vietnamese(nb):
    """What the library drew and tabulated in a Vietnamese notebook is in Vietnamese."""
    shown = html(nb) + "\n".join(texts(nb, "image/svg+xml"))
    english = [w for w in ENGLISH_LIBRARY_WORDS if w in shown]
    assert not english, f"English in a Vietnamese notebook: {english}"


def test_vietnamese_attention_by_hand_notebook_shows_the_same_in_vietnamese():
    nb = execute("vi/07-attention-bang-tay.ipynb")
    assert_rebuilds_a_layer(nb)
    assert_library_speaks_vietnamese(nb)


def test_vietnamese_classifier_notebook_shows_the_same_in_vietnamese():
    nb = execute("vi/08-huan-luyen-bo-phan-loai.ipynb")
    assert_trains_a_classifier(nb)
    assert_library_speaks_vietnamese(nb)


@pytest.mark.parametrize("name, shows", [
    ("vi/01-tach-token.ipynb", "##"),
    ("vi/02-ma-hoa-vi-tri.ipynb", "là số lẻ, nhưng nó phải chẵn"),
    ("vi/03-ben-trong-bert.ipynb", "head 99 nằm ngoài phạm vi: giá trị hợp lệ là 0..12"),
    ("vi/04-embedding-cau.ipynb", "Độ tương đồng cosine"),
])
def test_vietnamese_twins_of_01_to_04_run_and_speak_vietnamese(name, shows):
    nb = execute(name)
    assert shows in stdout(nb) + html(nb), f"{name} does not show {shows!r}"
    assert_library_speaks_vietnamese(nb)


def test_an_error_in_a_cell_shows_a_message_and_keeps_the_variables():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=KERNEL, cwd=str(NOTEBOOKS))
    try:
        def run(code):
            seen = []
            reply = kc.execute_interactive(code, timeout=1800, output_hook=seen.append)
            return reply["content"]["status"], seen

        status, _ = run(':dep transformer-nb = { path = "../crates/transformer-nb" }')
        assert status == "ok"
        status, _ = run("use transformer_nb::prelude::*;\nlet pe = positional_encoding(10, 8)?;\nlet kept = 42;")
        assert status == "ok"

        # evcxr prints an error returned with `?` to the cell's stderr. That line travels on its
        # own thread and may reach iopub after the cell's idle status (evcxr/evcxr#353); JupyterLab
        # keeps listening to a cell after idle (its OutputArea asks for disposeOnDone=false), so
        # the line still lands under the cell. Read iopub here the same way: every message whose
        # parent is this cell, until the text arrives or the cell has been idle for 10 s.
        def error_shown(code, expected):
            msg_id = kc.execute(code)
            shown, idle_at, give_up = "", None, time.monotonic() + 1800
            while expected not in shown and (idle_at is None or time.monotonic() - idle_at < 10):
                assert time.monotonic() < give_up, "the cell never finished"
                try:
                    message = kc.get_iopub_msg(timeout=1)
                except queue.Empty:
                    continue
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                content = message["content"]
                if message["msg_type"] == "status" and content["execution_state"] == "idle":
                    idle_at = time.monotonic()
                shown += content.get("text", "") + content.get("evalue", "") + " ".join(content.get("traceback", []))
            assert expected in shown, shown

        error_shown("let bad = positional_encoding(10, 7)?;", "d_model = 7 is odd, but it must be even")
        # The explorer's mistakes: a model without a masked-LM head as MaskedLm, a head out of range.
        error_shown(
            'let mlm = MaskedLm::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;',
            "has no masked-language-model head (cls.predictions)",
        )
        status, _ = run('let bert = Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2")?;\n'
                        'let enc = bert.tokenizer().encode("it was tired")?;')
        assert status == "ok"
        error_shown("let view = bert.neuron_view(&enc, 0, 12)?;", "head 12 is out of range: valid values are 0..12")

        status, seen = run('println!("{} {:?} {}", kept, pe.shape(), enc.len());')
        assert status == "ok"
        printed = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream")
        assert "42 (10, 8) 5" in printed
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


ENGLISH_COUNTS = ["English:     6 tokens for 6 words: 1.00 tokens per word",
                  "Vietnamese: 27 tokens for 8 words: 3.38 tokens per word"]
VIETNAMESE_COUNTS = ["Tiếng Anh:   6 token cho 6 từ: 1.00 token mỗi từ",
                     "Tiếng Việt: 27 token cho 8 từ: 3.38 token mỗi từ"]


def assert_generates(nb, counts, vi=False):
    """What notebooks 06 show: the decoder's summary, the BPE tables with tokens per word, the
    seven interactive views (next token, generation, head, model and neuron view, logit lens),
    four generations and a chat answer."""
    table = html(nb)
    assert "134,515,008" in table and WORDS["tied"][vi] in table, "the summary"
    assert WORDS["per word"][vi] in table and "20 C4" in table, "the Vietnamese BPE table"
    out = stdout(nb)
    assert all(line in out for line in counts), out
    specs = texts(nb, "application/vnd.vegalite.v5+json")
    assert texts(nb, "application/vnd.vegalite.v4+json") == specs
    titles = [spec["title"]["text"] for spec in specs]
    assert titles[0].startswith(WORDS["next token"][vi]), titles
    assert titles[1].endswith(WORDS["generation"][vi]), titles
    assert titles[2] == WORDS["head view"][vi], titles
    assert titles[3].startswith(WORDS["model view"][vi]), titles
    assert titles[4].startswith(WORDS["neuron view"][vi].format(3, 1)), titles
    assert titles[5] == WORDS["logit lens"][vi], titles
    assert any(p["name"] == "rope" for p in specs[4]["params"]), "the RoPE switch"
    lens = {(c["l"], c["i"]): c for c in specs[5]["datasets"]["cells"]}
    assert lens[(30, 4)]["t1"] == "·Paris"
    lines = "\n".join(texts(nb, "text/plain")).splitlines()
    for label in ["greedy          :", "temperature 0.3 :", "temperature 0.8 :", "temperature 1.5 :"]:
        assert sum(line.startswith(label) for line in lines) == 1, (label, out)
    assert "at most 30 tokens" in out, "the view's budget, said"
    assert "<|im_start|>assistant" in out and "Rayleigh" in out, out


def test_decoder_notebook_tokenizes_predicts_generates_and_chats():
    assert_generates(execute("06-generate-text.ipynb"), ENGLISH_COUNTS)


def test_vietnamese_decoder_notebook_shows_the_same_and_asks_in_vietnamese():
    nb = execute("vi/06-sinh-van-ban.ipynb")
    assert_generates(nb, VIETNAMESE_COUNTS, vi=True)
    markdown = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Sinh văn bản" in markdown
    assert any("Tại sao bầu trời" in c.source for c in nb.cells if c.cell_type == "code")
    assert_library_speaks_vietnamese(nb)
