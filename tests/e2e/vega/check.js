// Compiles a Vega-Lite spec with each Vega-Lite a front end bundles (JupyterLab 3.6: 5.1.1,
// JupyterLab 4: 5.6.1, and the current one), failing on any error or warning; then renders it
// with Vega to SVG at the given signal values, without a browser.
//
// Usage: node check.js SPEC OUT.svg [NAME=VALUE ...] [STORE:FIELD=VALUE ...]
//        (NODE_PATH=.cache/npm/node_modules)
// NAME=VALUE sets a signal (a slider, a checkbox as 0 or 1); STORE:FIELD=VALUE puts one point
// into a selection's store, as hovering that point does (e.g. query_store:i=7), and
// STORE:F1,F2=V1,V2 one point of several fields (cell_store:l,i=30,4).
const fs = require('fs');
const vega = require('vega');

const [input, output, ...signals] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(input, 'utf8'));
let compiled;
for (const lib of ['vega-lite-jl3', 'vega-lite-jl4', 'vega-lite']) {
  const vl = require(lib);
  const problems = [];
  const log = (...a) => { problems.push(a.join(' ')); return logger; };
  const logger = {level() { return logger; }, warn: log, error: log, info() { return logger; }, debug() { return logger; }};
  compiled = vl.compile(spec, {logger}).spec;
  if (problems.length) {
    console.error(`Vega-Lite ${vl.version}: ${problems.join('; ')}`);
    process.exit(1);
  }
}
(async () => {
  const view = new vega.View(vega.parse(compiled), {renderer: 'none'});
  for (const pair of signals) {
    const [name, value] = pair.split('=');
    if (name.includes(':')) {
      const [store, fields] = name.split(':');
      view.data(store, [{
        unit: 'hover',
        fields: fields.split(',').map((field) => ({type: 'E', field})),
        values: value.split(',').map(Number),
      }]);
    } else {
      view.signal(name, name === 'rope' ? Number(value) !== 0 : Number(value));
    }
  }
  await view.runAsync();
  fs.writeFileSync(output, await view.toSVG());
})().catch((e) => { console.error(e); process.exit(1); });
