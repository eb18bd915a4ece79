// plotly.js with exactly the traces layerviz's figures use (layerviz/charts.py). The bundle
// test (tests/test_plotly_bundle.py) reads the list below and fails when a figure uses a
// trace that is not in it: add the trace here, rebuild (README.md), commit both.
"use strict";

var Plotly = require("plotly.js/lib/core");

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/heatmap"),
  require("plotly.js/lib/icicle"),
  require("plotly.js/lib/sankey"),
  require("plotly.js/lib/treemap"),
]);

module.exports = Plotly;
