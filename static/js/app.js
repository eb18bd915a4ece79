// layerviz: the little JavaScript the pages need. Everything works without it; this adds
// charts, keyboard navigation, in-place tree collapsing, copy buttons and form niceties.
(function () {
  "use strict";

  // --- charts: every [data-chart] names a json_script holding a plotly figure -------------
  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      if (!fig) return;
      el.dataset.drawn = "1";
      applyTo(fig.layout, colourUpdate(fig.layout));
      Plotly.newPlot(el, fig.data, fig.layout, { displayModeBar: false, responsive: true });
      if (el.hasAttribute("data-chart-links")) {
        el.on("plotly_click", function (event) {
          // A page, or [a page, its hover] where the hover needs customdata too (the sankey).
          var data = event.points[0].customdata;
          var url = Array.isArray(data) ? data[0] : data;
          if (typeof url === "string" && url.charAt(0) === "/") window.location.href = url;
        });
      }
      if (el.hasAttribute("data-chart-layers")) {
        el.on("plotly_click", function (event) {
          var position = event.points[0].customdata[0];
          var link = document.querySelector('.layer-link[data-layer="' + position + '"]');
          if (link) link.click();
        });
      }
    });
  }

  // --- colours: charts take the page's ink and lines, light or dark ---------------------------
  // A figure is built on the server, which cannot know the scheme the reader sees; its text
  // and grid lines follow the page's own colours (app.css), here, and again when they change.
  // Read through a real property: a custom property's own value is its text, light-dark(…)
  // unresolved, which plotly cannot read.
  function cssColour(name) {
    var probe = document.createElement("span");
    probe.style.color = "var(" + name + ")";
    probe.hidden = true;
    document.body.appendChild(probe);
    var colour = getComputedStyle(probe).color;
    probe.remove();
    return colour;
  }
  // As dotted keys (what relayout takes): the text, and the lines of each axis the chart has.
  function colourUpdate(layout) {
    var ink = cssColour("--ink"), line = cssColour("--line");
    var update = { "font.color": ink, "legend.font.color": ink };
    Object.keys(layout || {}).forEach(function (key) {
      if (!/^[xy]axis\d*$/.test(key)) return;  // a treemap or a sankey has none
      update[key + ".gridcolor"] = line;
      update[key + ".zerolinecolor"] = line;
      update[key + ".linecolor"] = line;
    });
    return update;
  }
  function applyTo(layout, update) {  // the same, written into a layout before its first draw
    Object.keys(update).forEach(function (path) {
      var keys = path.split("."), at = layout;
      keys.slice(0, -1).forEach(function (key) { at = at[key] = at[key] || {}; });
      at[keys[keys.length - 1]] = update[path];
    });
  }
  function recolourCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-chart][data-drawn]").forEach(function (el) {
      Plotly.relayout(el, colourUpdate(el.layout));
    });
  }
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", recolourCharts);
  }
  // The switch acts at once and keeps the page; the form still posts, for the next pages (and
  // is all there is without JavaScript).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-theme-switch]");
    if (!select) return;
    if (select.value === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = select.value;
    recolourCharts();
    fetch(select.form.action, { method: "POST", body: new FormData(select.form), redirect: "manual", credentials: "same-origin" });
  });

  // --- copy buttons -------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy[data-copy]");
    if (!button) return;
    var done = function () {
      button.classList.add("copied");
      button.setAttribute("aria-label", button.dataset.copiedLabel || "");
      setTimeout(function () {
        button.classList.remove("copied");
        button.setAttribute("aria-label", button.dataset.label);
      }, 1200);
    };
    if (!button.dataset.label) button.dataset.label = button.getAttribute("aria-label");
    // The clipboard API exists only on secure origins; a classroom server reached by its LAN
    // address over plain HTTP is not one, so fall back to selecting a hidden field.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(button.dataset.copy).then(done);
      return;
    }
    var field = document.createElement("textarea");
    field.value = button.dataset.copy;
    field.setAttribute("readonly", "");
    field.style.position = "fixed";
    field.style.opacity = "0";
    document.body.appendChild(field);
    field.select();
    try { if (document.execCommand("copy")) done(); } finally { field.remove(); button.focus(); }
  });

  // --- panel links follow the state in the address bar --------------------------------------
  // Links outside the panel (the layer stack) are rendered once, and a directory opened in
  // place changes the URL without re-rendering the panel's links; so at request time each
  // link takes the current state and changes only what it is about (data-panel-set), and the
  // filter form takes the open directory from the address bar (data-panel-keep).
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt.hasAttribute) return;
    var set = elt.getAttribute("data-panel-set");
    var keep = elt.getAttribute("data-panel-keep");
    if (set === null && keep === null) return;
    var now = new URLSearchParams(window.location.search);
    if (set !== null && now.has("layer")) {
      new URLSearchParams(set).forEach(function (value, key) {
        if (value) now.set(key, value); else now.delete(key);
      });
      event.detail.path = window.location.pathname + "?" + now.toString();
    }
    if (keep !== null) {
      keep.split(" ").forEach(function (key) {
        if (now.get(key)) event.detail.parameters[key] = now.get(key);
        else delete event.detail.parameters[key];
      });
    }
  });

  // --- the selected layer follows the panel (only the panel is swapped, not the stack) -------
  // Done after the swap, not on click: htmx snapshots the page for the back button just
  // before swapping, and that snapshot must still show the layer it was taken on.
  function selectLayer(position) {
    document.querySelectorAll(".layer-row").forEach(function (row) {
      var link = row.querySelector(".layer-link");
      var on = link.dataset.layer === String(position);
      row.classList.toggle("selected", on);
      if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current");
    });
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var panel = document.getElementById("layer-panel");
    if (panel && event.detail.elt && (event.detail.elt === panel || event.detail.elt.id === "layer-panel")) {
      selectLayer(panel.dataset.layer);
      var status = document.getElementById("panel-status");
      var title = document.getElementById("panel-title");
      if (status && title) status.textContent = title.textContent;
    }
  });
  // A page restored from htmx's history holds plotly's drawing but not its event handlers.
  document.addEventListener("htmx:historyRestore", function () {
    document.querySelectorAll("[data-chart][data-drawn]").forEach(function (el) {
      el.innerHTML = "";
      delete el.dataset.drawn;
    });
    drawCharts(document);
    var panel = document.getElementById("layer-panel");
    if (panel) selectLayer(panel.dataset.layer);
  });

  // --- tree: a second click on an open directory closes it, without a request --------------
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-dir]");
    if (!link) return;
    var item = link.closest("li[role=treeitem]");
    if (item && item.getAttribute("aria-expanded") === "true") {
      event.preventDefault();
      event.stopPropagation();
      item.setAttribute("aria-expanded", "false");
      var group = item.querySelector(":scope > ul");
      if (group) group.innerHTML = "";
      // The URL should name the folder that is still open: the parent of this one.
      var url = new URL(window.location.href);
      var parent = item.parentElement.closest("li[role=treeitem]");
      if (parent && parent.dataset.path) url.searchParams.set("path", parent.dataset.path);
      else url.searchParams.delete("path");
      history.replaceState(history.state, "", url);
    }
  }, true);

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.matches("li[role=treeitem] > ul")) {
      target.parentElement.setAttribute("aria-expanded", "true");
    }
  });

  // --- the stepper: autoplay, the slider's value while it moves, the step announced ----------
  // Stepping is the previous/next links (htmx swaps #step and pushes the URL); playing clicks
  // "next" an interval after each step has settled, so a slow answer never piles up requests.
  var playing = false, timer = null;
  function stepTo(which) {
    var link = document.getElementById("step-" + which);
    if (link) link.click();
    return link !== null;
  }
  function showPlaying() {
    var button = document.getElementById("step-play");
    if (!button) return;
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    button.textContent = playing ? "❚❚ " + button.dataset.pauseLabel : "▶ " + button.dataset.playLabel;
  }
  function schedule() {
    clearTimeout(timer);
    var select = document.getElementById("step-interval");
    timer = setTimeout(function () {
      if (!stepTo("next")) stop();
    }, 1000 * Number(select ? select.value : 1));
  }
  function stop() {
    playing = false;
    clearTimeout(timer);
    showPlaying();
  }
  var chosenInterval = null;  // kept across swaps, which render the select afresh
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#step-play")) return;
    if (playing) { stop(); return; }
    playing = true;
    showPlaying();
    // At the top, play starts again from the base.
    var base = document.querySelector('.slabs a[data-step="0"]');
    if (!document.getElementById("step-next") && base) base.click(); else schedule();
  });
  document.addEventListener("change", function (event) {
    if (event.target.id !== "step-interval") return;
    chosenInterval = event.target.value;
    if (playing) schedule();
  });
  document.addEventListener("input", function (event) {
    if (event.target.id !== "step-slider") return;
    var shown = document.getElementById("step-slider-value");
    if (shown) shown.textContent = "#" + (Number(event.target.value) + 1);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var step = document.getElementById("step");
    if (!step || event.detail.elt !== step) return;
    var select = document.getElementById("step-interval");
    if (select && chosenInterval) select.value = chosenInterval;
    showPlaying();
    if (playing) schedule();
    var status = document.getElementById("step-status");
    var title = document.getElementById("step-title");
    if (status && title) status.textContent = title.textContent;
  });

  // --- keyboard: arrows move through layers and tree rows -----------------------------------
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }
  function showKeys() {
    var help = document.getElementById("keys-help");
    if (help && !help.open) help.showModal();
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-keys-open]")) showKeys();
  });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (!typing(event.target)) {
      if (event.key === "?") { event.preventDefault(); showKeys(); return; }
      if (event.key === "/") {
        var field = document.querySelector("main input[type=search], main input[type=text]");
        if (field) { event.preventDefault(); field.focus(); field.select(); }
        return;
      }
      // Left and right follow the page's previous and next links (a step of the stepper, a
      // lesson), unless focus is in the layer stack or a tree, where the arrows move there.
      var sideways = event.key === "ArrowLeft" || event.key === "ArrowRight";
      if (sideways && !event.target.closest(".layer-link, .tree")) {
        if (playing) stop();  // a step asked for by hand ends autoplay
        var go = document.querySelector(event.key === "ArrowLeft" ? "[data-key-prev]" : "[data-key-next]");
        if (go) { event.preventDefault(); go.click(); }
        return;
      }
      if (event.key === "j" || event.key === "k") {
        var all = Array.from(document.querySelectorAll(".layer-link"));
        // Keys pressed faster than the panel swaps count from the layer last asked for.
        var current = document.activeElement && document.activeElement.closest(".layer-link")
          || document.querySelector(".layer-row.selected .layer-link");
        var to = current ? all[all.indexOf(current) + (event.key === "j" ? 1 : -1)] : all[0];
        if (to) { event.preventDefault(); to.focus(); to.click(); }
        return;
      }
    }
    var layerLink = event.target.closest(".layer-link");
    if (layerLink && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      var links = Array.from(document.querySelectorAll(".layer-link"));
      var next = links[links.indexOf(layerLink) + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) {
        event.preventDefault();
        next.focus();
        next.click();
      }
      return;
    }
    var treeLink = event.target.closest(".tree .name");
    if (!treeLink) return;
    var rows = Array.from(document.querySelectorAll(".tree .name"));
    var index = rows.indexOf(treeLink);
    var item = treeLink.closest("li[role=treeitem]");
    var expanded = item && item.getAttribute("aria-expanded");
    if (event.key === "ArrowDown" && rows[index + 1]) { event.preventDefault(); rows[index + 1].focus(); }
    else if (event.key === "ArrowUp" && rows[index - 1]) { event.preventDefault(); rows[index - 1].focus(); }
    else if (event.key === "Home" && rows.length) { event.preventDefault(); rows[0].focus(); }
    else if (event.key === "End" && rows.length) { event.preventDefault(); rows[rows.length - 1].focus(); }
    else if (event.key === "ArrowRight" && expanded === "false") { event.preventDefault(); treeLink.click(); }
    else if (event.key === "ArrowLeft") {
      event.preventDefault();
      if (expanded === "true") { treeLink.click(); return; }
      var parent = item && item.parentElement.closest("li[role=treeitem]");
      if (parent) parent.querySelector(":scope > .node .name").focus();
    }
  });

  // --- forms --------------------------------------------------------------------------------
  function showKinds(form) {
    var chosen = form.querySelector("input[name=kind]:checked");
    if (!chosen) return;
    form.querySelectorAll("[data-kinds]").forEach(function (el) {
      el.hidden = el.dataset.kinds.split(" ").indexOf(chosen.value) < 0;
    });
    // The engine is asked for its images only once someone wants to pick from them.
    var engine = form.querySelector("#engine-images[hx-get]");
    if (engine && chosen.value === "engine" && window.htmx) htmx.trigger(engine, "lv-show");
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) {
      // Come back to the view as it is now, not as the page first loaded.
      var next = event.target.form.querySelector("input[name=next]");
      if (next) next.value = window.location.pathname + window.location.search;
      event.target.form.submit();
    }
    if (event.target.matches("#add-form input[name=kind]")) {
      // The errors were about the source asked for before; this is another one.
      clearErrors(event.target.form);
      showKinds(event.target.form);
    }
    var fill = event.target.closest("select[data-fill]");
    if (fill && fill.value) document.querySelector(fill.dataset.fill).value = fill.value;
  });

  function clearErrors(form) {
    form.querySelectorAll(".error").forEach(function (el) { el.remove(); });
  }

  // A job queued: the form starts afresh, from the same source (the next image often comes
  // from there too). A form sent back with its errors has replaced this one, which is then
  // no longer in the page.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form.id !== "add-form" || !event.detail.successful || !form.isConnected) return;
    var chosen = form.querySelector("input[name=kind]:checked");
    form.reset();
    if (chosen) chosen.checked = true;
    clearErrors(form);
    showKinds(form);
  });

  function init(root) {
    document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
    document.querySelectorAll("[data-keys-open]").forEach(function (el) { el.hidden = false; });
    document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
    var form = document.getElementById("add-form");
    if (form) showKinds(form);
    drawCharts(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) htmx.onLoad(init); else init(document);
  });
  window.addEventListener("load", function () { drawCharts(document); });
})();
