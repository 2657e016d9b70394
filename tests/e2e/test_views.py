"""The interactive views' Vega-Lite specs: valid against Vega-Lite's JSON schema (from the npm
package, installed by scripts/test.sh), compiled without a warning by the Vega-Lite of
JupyterLab 3.6 and 4 and the current one, and drawn by Vega: the layer and head inputs change
the drawing, and the drawing is the attention the library computed."""

import json
import math
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO, artifacts_dir

NPM = REPO / ".cache" / "npm" / "node_modules"
SCHEMA = NPM / "vega-lite" / "build" / "vega-lite-schema.json"
CHECK = REPO / "tests" / "e2e" / "vega" / "check.js"

pytestmark = pytest.mark.skipif(
    not SCHEMA.is_file() or shutil.which("node") is None,
    reason="Vega-Lite from npm is missing: scripts/test.sh installs it",
)


@pytest.fixture(scope="module")
def views():
    """The example's views of the tutorial model: {name: (spec, png path)}."""
    out = artifacts_dir("views")
    subprocess.run(
        ["cargo", "run", "--quiet", "--example", "views", "--", str(out)],
        cwd=REPO, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return {
        path.name.removesuffix(".vl.json"): json.loads(path.read_text())
        for path in sorted(out.glob("*.vl.json"))
    }


def draw(name, spec, folder="views", **signals):
    """Vega's SVG of `spec` (written in `folder` of the artifacts) with `signals` set, after every
    Vega-Lite compiled it cleanly. A signal `STORE:F1,F2` sets a selection of several fields."""
    spec_path = artifacts_dir(folder) / f"{name}.vl.json"
    suffix = "".join(f"-{k.replace(':', '-')}{v}".replace(",", "-") for k, v in signals.items())
    svg = artifacts_dir(folder) / f"{name}{suffix}.svg"
    result = subprocess.run(
        ["node", str(CHECK), str(spec_path), str(svg), *(f"{k}={v}" for k, v in signals.items())],
        env={**os.environ, "NODE_PATH": str(NPM)}, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return svg.read_text()


def test_every_view_is_valid_vega_lite_v5(views):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    assert set(views) == {
        "attention-view", "attention-view-pair", "model-view", "neuron-view", "layer-predictions",
    }
    for name, spec in views.items():
        assert spec["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(spec))
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"


def line_opacities(svg):
    """The opacity of every attention line Vega drew, in drawing order (1 where Vega leaves the
    attribute out, its default)."""
    lines = re.findall(r'<line [^>]*aria-roledescription="rule mark"[^>]*>', svg)
    return [float(m.group(1)) if (m := re.search(r' opacity="([0-9.e-]+)"', line)) else 1.0
            for line in lines]


def carried(spec):
    """The attention values a view carries: 4 digits each in its `attention` parameter."""
    digits = next(p["value"] for p in spec["params"] if p["name"] == "attention")
    return [int(digits[k:k + 4]) / 9999 for k in range(0, len(digits), 4)]


def param(spec, name):
    return next(p for p in spec["params"] if p["name"] == name)


def test_the_layer_and_head_inputs_change_the_drawing(views):
    spec = views["attention-view"]
    layers = param(spec, "layer")["bind"]["max"] + 1
    heads = param(spec, "head")["bind"]["max"] + 1
    tokens = len(spec["datasets"]["tokens"])
    default = draw("attention-view", spec)
    other = draw("attention-view", spec, layer=0, head=3)
    assert default != other
    # One line per token pair, as strong as its attention: the drawn opacities are that head's
    # attention map, in order.
    values = carried(spec)
    assert len(values) == layers * heads * tokens * tokens
    for svg, (layer, head) in [(default, (layers - 1, 0)), (other, (0, 3))]:
        start = (layer * heads + head) * tokens * tokens
        expected = values[start:start + tokens * tokens]
        drawn = line_opacities(svg)
        assert len(drawn) == tokens * tokens
        assert max(abs(a - b) for a, b in zip(drawn, expected)) < 1e-4
        # Each query's lines sum to one (a softmax row).
        for i in range(tokens):
            assert abs(sum(drawn[i * tokens:(i + 1) * tokens]) - 1) < 1e-3


def visible_lines(svg):
    """(query, key) of every attention line drawn with some opacity."""
    lines = re.findall(r'<line [^>]*aria-roledescription="rule mark"[^>]*>', svg)
    return [tuple(int(x) for x in re.search(r'aria-label="i: (\d+); j: (\d+);', line).groups())
            for line in lines if ' opacity="0"' not in line]


def test_hovering_a_token_leaves_only_its_lines(views):
    spec = views["attention-view"]
    tokens = len(spec["datasets"]["tokens"])
    everything = visible_lines(draw("attention-view", spec))
    assert len(everything) > tokens
    # Hovering "it" (token 8) on the left: only what it attends to; on the right: only who
    # attends to it.
    assert {i for i, _ in visible_lines(draw("attention-view", spec, **{"query_store:i": 8}))} == {8}
    assert {j for _, j in visible_lines(draw("attention-view", spec, **{"key_store:j": 2}))} == {2}


def test_a_pair_colours_sentence_b(views):
    spec = views["attention-view-pair"]
    segments = [t["s"] for t in spec["datasets"]["tokens"]]
    assert segments[0] == 0 and segments[-1] == 1 and sorted(set(segments)) == [0, 1]
    svg = draw("attention-view-pair", spec)
    assert svg.count('fill="#b03a2e"') == 2 * segments.count(1)


def test_views_stay_small(views):
    for name, spec in views.items():
        size = len(json.dumps(spec))
        png = (artifacts_dir("views") / f"{name}.png").stat().st_size
        # In a notebook the spec is there twice (v5 and v4 MIME types) beside the PNG.
        assert 2 * size + png < 1_000_000, f"{name}: {size} + {png} bytes"


def test_the_neuron_view_follows_the_picked_query(views):
    spec = views["neuron-view"]
    tokens = param(spec, "T")["value"]
    first = draw("neuron-view", spec, query=0)
    other = draw("neuron-view", spec, query=6)
    assert first != other
    # The softmax chart draws a bar per token; Vega computed them from the query and keys
    # in the spec, so they must be the softmax of q · k / sqrt(d) (checked here in Python).
    import math

    queries = param(spec, "Q")["value"]
    keys = spec["datasets"]["keys"]
    d = len(queries[0])
    scores = [sum(queries[6][c] * keys[j * d + c] for c in range(d)) / math.sqrt(d)
              for j in range(len(tokens))]
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    attention = [e / sum(exps) for e in exps]
    bars = re.findall(r'aria-label="attention: ([0-9.]+)[^"]*"[^>]*aria-roledescription="bar"', other)
    assert len(bars) == len(tokens)
    assert max(abs(float(b) - a) for b, a in zip(bars, attention)) < 2e-3


# The decoder's views, of the real SmolLM2-135M-Instruct (its cached GGUF).

@pytest.fixture(scope="module")
def decoder_views():
    """The decoder example's views: {name: spec}; SmolLM2 runs in a release build."""
    out = artifacts_dir("decoder-views")
    subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "decoder_views", "--", str(out)],
        cwd=REPO, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return {
        path.name.removesuffix(".vl.json"): json.loads(path.read_text())
        for path in sorted(out.glob("*.vl.json"))
    }


def draw_decoder(name, spec, **signals):
    """As `draw`, for a decoder view (its spec is in the decoder-views folder)."""
    return draw(name, spec, folder="decoder-views", **signals)


def test_every_decoder_view_is_valid_vega_lite_v5_and_small(decoder_views):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    assert set(decoder_views) == {
        "causal-attention-view", "causal-model-view", "next-token", "logit-lens", "generation",
        "causal-neuron-view",
    }
    for name, spec in decoder_views.items():
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(spec))
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
        png = (artifacts_dir("decoder-views") / f"{name}.png").stat().st_size
        assert 2 * len(json.dumps(spec)) + png * 4 // 3 < 1_000_000, name


def triangle(spec):
    """A causal view's carried maps: [layer][head] -> n rows of i + 1 values."""
    values = carried(spec)
    n = len(spec["datasets"]["tokens"])
    layers = param(spec, "layer")["bind"]["max"] + 1
    heads = param(spec, "head")["bind"]["max"] + 1
    per_map = n * (n + 1) // 2
    assert len(values) == layers * heads * per_map
    maps = [[[] for _ in range(heads)] for _ in range(layers)]
    for layer in range(layers):
        for head in range(heads):
            base = (layer * heads + head) * per_map
            maps[layer][head] = [values[base + i * (i + 1) // 2: base + (i + 1) * (i + 2) // 2]
                                 for i in range(n)]
    return maps


def test_causal_lines_only_go_to_earlier_tokens_and_show_the_sink(decoder_views):
    spec = decoder_views["causal-attention-view"]
    maps = triangle(spec)
    n = len(spec["datasets"]["tokens"])
    for layer, head in [(29, 0), (0, 3), (20, 8)]:
        svg = draw_decoder("causal-attention-view", spec, layer=layer, head=head)
        lines = re.findall(r'<line [^>]*aria-roledescription="rule mark"[^>]*>', svg)
        pairs = [tuple(int(x) for x in re.search(r'aria-label="i: (\d+); j: (\d+);', line).groups())
                 for line in lines]
        # One line per query and earlier-or-same key, none to a later token.
        assert len(pairs) == n * (n + 1) // 2 and all(j <= i for i, j in pairs)
        drawn = line_opacities(svg)
        expected = [p for row in maps[layer][head] for p in row]
        assert max(abs(a - b) for a, b in zip(drawn, expected)) < 1e-4
        for i in range(n):
            assert abs(sum(maps[layer][head][i]) - 1) < 2e-3
    # The attention sink: in layer 20, most attention of every later token goes to token 0.
    to_first = [row[0] for head in maps[20] for row in head[1:]]
    assert sum(to_first) / len(to_first) > 0.5


def bars(svg):
    """The width of each bar of a bar chart, in drawing order, and its fill."""
    found = re.findall(r'<path aria-label="([^"]*)"[^>]*aria-roledescription="bar"[^>]*d="M[^h]*h([0-9.]+)[^"]*"[^>]*fill="(#[0-9a-f]+)"', svg)
    return [(label, float(width), fill) for label, width, fill in found]


def test_the_temperature_and_top_p_sliders_redraw_the_next_token_bars(decoder_views):
    spec = decoder_views["next-token"]
    tokens = spec["datasets"]["tokens"]
    z = param(spec, "Z")["value"]
    at_one = draw_decoder("next-token", spec, temperature=1, top_p=0.9)
    sharp = draw_decoder("next-token", spec, temperature=0.5, top_p=0.9)
    flat = draw_decoder("next-token", spec, temperature=2, top_p=1)
    assert len({at_one, sharp, flat}) == 3
    for svg, t in [(at_one, 1.0), (sharp, 0.5), (flat, 2.0)]:
        drawn = re.findall(r'aria-label="[^"]*probability at this temperature: ([0-9.]+)%', svg)
        assert len(drawn) == len(tokens)
        expected = [100 * math.exp(tok["l"] / t - z[round(t / 0.05) - 1]) for tok in tokens]
        assert max(abs(float(d) - e) for d, e in zip(drawn, expected)) < 0.01, (t, drawn, expected)
    # At temperature 1 the bars are the model's probabilities.
    one = [float(p) for p in re.findall(r'probability at this temperature: ([0-9.]+)%', at_one)]
    # Both rounded to 0.01 % (the tooltip, and p1 carried to four decimals).
    assert max(abs(p - 100 * tok["p1"]) for p, tok in zip(one, tokens)) < 0.0101
    # Sharper: the top token gains; flatter: it loses.
    top = lambda svg: float(re.findall(r'probability at this temperature: ([0-9.]+)%', svg)[0])
    assert top(sharp) > top(at_one) > top(flat)
    # Top-p: the grey bars are those after the probabilities reached p.
    fills = re.findall(r'aria-roledescription="bar"[^>]*fill="(#[0-9a-f]+)"', at_one)
    kept, cumulative = [], 0.0
    for p in one:
        kept.append(not kept or cumulative < 90.0)
        cumulative += p
    assert fills == ["#2f6fd6" if k else "#c8c8c8" for k in kept], fills
    assert "keeps" in at_one


def test_the_logit_lens_grid_and_its_hover(decoder_views):
    spec = decoder_views["logit-lens"]
    cells = spec["datasets"]["cells"]
    layers = 1 + max(c["l"] for c in cells)
    positions = 1 + max(c["i"] for c in cells)
    assert (layers, positions) == (31, 5)
    last = next(c for c in cells if c["l"] == 30 and c["i"] == 4)
    assert last["t1"] == "·Paris" and all(f"t{k}" in last for k in range(1, 6))
    plain = draw_decoder("logit-lens", spec)
    hovered = draw_decoder("logit-lens", spec, **{"cell_store:l,i": "30,4"})
    assert plain.count('stroke="#d62728"') == 0
    assert hovered.count('stroke="#d62728"') == 1
    # The cell's tooltip lists its five tokens with their probabilities.
    label = re.search(r'aria-label="[^"]*layer: 30; probability: [0-9.]+; 1\.: ·Paris; p1: [0-9.]+%[^"]*"', plain)
    assert label and len(re.findall(r"; p\d: [0-9.]+%", label.group(0))) == 5, label


def test_the_generation_view_shades_each_token(decoder_views):
    spec = decoder_views["generation"]
    tokens = spec["datasets"]["tokens"]
    svg = draw_decoder("generation", spec)
    rects = re.findall(r'aria-roledescription="rect mark"', svg)
    assert len(rects) == len(tokens) == 16
    assert tokens[0]["t"] == "·Paris" and "a1" in tokens[0]


def test_the_causal_neuron_view_switches_the_rotary_embedding(decoder_views):
    spec = decoder_views["causal-neuron-view"]
    tokens = param(spec, "T")["value"]
    n, query = len(tokens), 7
    with_rope = draw_decoder("causal-neuron-view", spec, query=query, rope=1)
    without = draw_decoder("causal-neuron-view", spec, query=query, rope=0)
    assert with_rope != without
    queries, keys = param(spec, "Q")["value"], spec["datasets"]["keys"]
    queries0, keys0 = param(spec, "Q0")["value"], param(spec, "K0")["value"]
    d = len(queries[0])

    def softmax_of(q, k):
        scores = [sum(q[query][c] * k[j * d + c] for c in range(d)) / math.sqrt(d)
                  for j in range(query + 1)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        return [e / sum(exps) for e in exps]

    for svg, (q, k) in [(with_rope, (queries, keys)), (without, (queries0, keys0))]:
        found = re.findall(r'aria-label="attention: ([0-9.]+)[^"]*"[^>]*aria-roledescription="bar"', svg)
        # Causal: bars for the query and the tokens before it only.
        assert len(found) == query + 1 < n
        expected = softmax_of(q, k)
        assert max(abs(float(b) - a) for b, a in zip(found, expected)) < 2e-3
