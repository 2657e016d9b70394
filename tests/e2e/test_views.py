"""The interactive views' Vega-Lite specs: valid against Vega-Lite's JSON schema (from the npm
package, installed by scripts/test.sh), compiled without a warning by the Vega-Lite of
JupyterLab 3.6 and 4 and the current one, and drawn by Vega: the layer and head inputs change
the drawing, and the drawing is the attention the library computed."""

import json
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


def draw(name, spec, **signals):
    """Vega's SVG of `spec` with `signals` set, after every Vega-Lite compiled it cleanly."""
    spec_path = artifacts_dir("views") / f"{name}.vl.json"
    suffix = "".join(f"-{k.replace(':', '-')}{v}" for k, v in signals.items())
    svg = artifacts_dir("views") / f"{name}{suffix}.svg"
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
