/* The detector page's chart: score over time with the threshold, band colours and anomaly
 * markers; raw values of the top features on demand; new points appended as they arrive.
 *
 * Initial points come from <script id="chart-data" type="application/json">; live ones from
 * "live:message" events (static/js/live.js) and, while the socket is down, from polling
 * config.pointsUrl. The canvas carries data-points, data-anomalies and data-received for tests.
 */
(function () {
  "use strict";

  var canvas = document.getElementById("score-chart");
  var source = document.getElementById("chart-data");
  if (!canvas || !source || !window.Chart) return;

  var config = JSON.parse(source.textContent);
  var styles = window.getComputedStyle(document.documentElement);
  var css = function (name, fallback) {
    return styles.getPropertyValue(name).trim() || fallback;
  };
  var BAND = {
    none: css("--band-none", "#8a94a6"),
    warning: css("--band-warning", "#d4a106"),
    minor: css("--band-minor", "#e07b00"),
    major: css("--band-major", "#d9480f"),
    critical: css("--band-critical", "#b42318"),
  };
  var BAND_RANGES = [
    ["warning", 25, 50],
    ["minor", 50, 75],
    ["major", 75, 90],
    ["critical", 90, 100],
  ];
  var RAW_COLOURS = ["rgba(31, 95, 191, 0.75)", "rgba(122, 79, 191, 0.75)", "rgba(15, 138, 126, 0.75)"];
  var LINE = css("--chart-line", "#4a5568");
  var THRESHOLD = css("--chart-threshold", "#1c2430");
  var PROPOSED = css("--accent", "#1f5fbf");

  var limit = config.limit || 500;
  var features = config.features || [];
  var threshold = config.threshold;
  var proposed = null;
  var showRaw = false;
  var points = (config.points || []).slice(-limit);
  var ids = new Set(points.map(function (p) { return p.id; }));
  var lastId = points.reduce(function (m, p) { return Math.max(m, p.id); }, 0);
  var received = 0;

  function timeLabel(ms) {
    return new Date(ms).toLocaleTimeString([], {
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
  }

  function dayTimeLabel(ms) {
    var d = new Date(ms);
    return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + timeLabel(ms);
  }

  var bandsPlugin = {
    id: "bands",
    beforeDatasetsDraw: function (chart) {
      var area = chart.chartArea;
      var y = chart.scales.y;
      var ctx = chart.ctx;
      ctx.save();
      ctx.globalAlpha = 0.08;
      BAND_RANGES.forEach(function (band) {
        var top = y.getPixelForValue(band[2]);
        var bottom = y.getPixelForValue(band[1]);
        ctx.fillStyle = BAND[band[0]];
        ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      });
      ctx.restore();
    },
  };

  function rawDataset(name, index) {
    return {
      label: name,
      type: "line",
      data: [],
      yAxisID: "raw" + index,
      borderColor: RAW_COLOURS[index % RAW_COLOURS.length],
      backgroundColor: RAW_COLOURS[index % RAW_COLOURS.length],
      borderWidth: 1.25,
      pointRadius: 0,
      hidden: true,
      order: 4,
    };
  }

  function rawAxis(name, index) {
    return {
      type: "linear",
      position: "right",
      display: false,
      grid: { drawOnChartArea: false },
      title: { display: true, text: name, color: RAW_COLOURS[index % RAW_COLOURS.length] },
      ticks: { color: RAW_COLOURS[index % RAW_COLOURS.length], maxTicksLimit: 5 },
    };
  }

  var scales = {
    x: {
      type: "linear",
      bounds: "data",
      ticks: { maxTicksLimit: 8, callback: function (value) { return timeLabel(value); } },
      grid: { color: "#eef1f5" },
    },
    y: {
      min: 0,
      max: 100,
      title: { display: true, text: "score" },
      ticks: { stepSize: 25 },
      grid: { color: "#eef1f5" },
    },
  };
  features.forEach(function (name, i) { scales["raw" + i] = rawAxis(name, i); });

  var chart = new window.Chart(canvas, {
    type: "line",
    data: {
      datasets: [
        {
          label: "score",
          data: [],
          borderColor: LINE,
          borderWidth: 1.25,
          pointRadius: 0,
          pointHoverRadius: 3,
          tension: 0,
          order: 3,
        },
        {
          label: "anomaly",
          type: "scatter",
          data: [],
          pointRadius: 5.5,
          pointHoverRadius: 8,
          pointBackgroundColor: function (ctx) { return BAND[ctx.raw && ctx.raw.b] || BAND.critical; },
          pointBorderColor: "#ffffff",
          pointBorderWidth: 1.5,
          clip: 10, // markers at 100 stay whole above the plot area
          order: 1,
        },
        {
          label: "threshold",
          data: [],
          borderColor: THRESHOLD,
          borderDash: [6, 4],
          borderWidth: 1.5,
          pointRadius: 0,
          pointHitRadius: 0,
          order: 2,
        },
        {
          label: "proposed threshold",
          data: [],
          borderColor: PROPOSED,
          borderDash: [2, 3],
          borderWidth: 1.5,
          pointRadius: 0,
          pointHitRadius: 0,
          hidden: true,
          order: 2,
        },
      ].concat(features.map(rawDataset)),
    },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      maintainAspectRatio: false,
      layout: { padding: { top: 8 } },
      interaction: { mode: "nearest", intersect: false, axis: "x" },
      scales: scales,
      plugins: {
        legend: { display: false },
        tooltip: {
          filter: function (item) { return item.datasetIndex !== 2 && item.datasetIndex !== 3; },
          callbacks: {
            title: function (items) { return items.length ? dayTimeLabel(items[0].parsed.x) : ""; },
            label: function (item) {
              if (item.datasetIndex <= 1) {
                var band = item.raw && item.raw.b ? " (" + item.raw.b + ")" : "";
                return (item.datasetIndex === 1 ? "anomaly: " : "score: ") + item.parsed.y.toFixed(1) + band;
              }
              return item.dataset.label + ": " + item.parsed.y;
            },
          },
        },
      },
      onClick: function (event, elements) {
        var hit = elements.find(function (e) { return e.datasetIndex === 1; });
        if (hit) openExplanation(chart.data.datasets[1].data[hit.index].id);
      },
    },
    plugins: [bandsPlugin],
  });

  function openExplanation(id) {
    var row = document.getElementById("point-" + id);
    if (!row) return;
    var details = row.querySelector("details");
    if (details) details.open = true;
    row.scrollIntoView({ block: "center" });
    var summary = row.querySelector("summary");
    if (summary) summary.focus();
  }

  function redraw() {
    var score = [];
    var anomalies = [];
    var raw = features.map(function () { return []; });
    points.forEach(function (p) {
      var item = { x: p.t, y: p.s, id: p.id, b: p.b };
      score.push(item);
      if (p.a) anomalies.push(item);
      if (p.v) {
        for (var i = 0; i < features.length; i++) {
          if (p.v[i] !== null && p.v[i] !== undefined) raw[i].push({ x: p.t, y: p.v[i] });
        }
      }
    });
    var sets = chart.data.datasets;
    sets[0].data = score;
    sets[1].data = anomalies;
    var first = points.length ? points[0].t : Date.now() - 60000;
    var last = points.length ? points[points.length - 1].t : Date.now();
    sets[2].data = [{ x: first, y: threshold }, { x: last, y: threshold }];
    sets[3].data = proposed === null ? [] : [{ x: first, y: proposed }, { x: last, y: proposed }];
    sets[3].hidden = proposed === null || Math.abs(proposed - threshold) < 0.05;
    features.forEach(function (name, i) {
      sets[4 + i].data = raw[i];
      sets[4 + i].hidden = !showRaw;
      chart.options.scales["raw" + i].display = showRaw;
    });
    chart.update("none");
    canvas.setAttribute("data-points", String(points.length));
    canvas.setAttribute("data-anomalies", String(anomalies.length));
    canvas.setAttribute("data-received", String(received));
    var empty = document.getElementById("chart-empty");
    if (empty) empty.hidden = points.length > 0;
  }

  function add(newPoints) {
    var added = 0;
    var outOfOrder = false;
    newPoints.forEach(function (p) {
      if (ids.has(p.id)) {
        if (p.v) {
          var known = points.find(function (q) { return q.id === p.id; });
          if (known) known.v = p.v;
        }
        return;
      }
      ids.add(p.id);
      if (points.length && p.t < points[points.length - 1].t) outOfOrder = true;
      points.push(p);
      lastId = Math.max(lastId, p.id);
      added += 1;
    });
    if (outOfOrder) points.sort(function (a, b) { return a.t - b.t || a.id - b.id; });
    while (points.length > limit) ids.delete(points.shift().id);
    received += added;
    return added;
  }

  document.addEventListener("live:message", function (event) {
    var message = event.detail;
    if (message.kind !== "points" || message.detector !== config.detector) return;
    var values = message.values || {};
    add((message.points || []).map(function (p) {
      return {
        id: p.id,
        t: Date.parse(p.time),
        s: p.score,
        b: p.band,
        a: p.is_anomaly,
        v: values[String(p.id)] || null,
      };
    }));
    redraw();
  });

  function fetchPoints(params) {
    var url = config.pointsUrl + "?" + params.join("&");
    return window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; });
  }

  function rawParams() {
    return showRaw ? features.map(function (f) { return "raw=" + encodeURIComponent(f); }) : [];
  }

  // While the socket is down, live.js asks every few seconds: fetch what is new.
  document.addEventListener("live:poll", function () {
    fetchPoints(["after=" + lastId].concat(rawParams())).then(function (body) {
      if (!body) return;
      threshold = body.threshold;
      add(body.points);
      redraw();
    });
  });

  function setRaw(on) {
    showRaw = on;
    window.Live.send({ raw: on ? features : [] });
    var missing = on && points.some(function (p) { return !p.v; });
    if (missing) {
      fetchPoints(rawParams()).then(function (body) {
        if (body) add(body.points);
        redraw();
      });
    }
    redraw();
  }

  var toggle = document.getElementById("show-raw");
  if (toggle) {
    toggle.addEventListener("change", function () { setRaw(toggle.checked); });
  }
  document.addEventListener("live:open", function () {
    if (showRaw) window.Live.send({ raw: features });
  });

  // The sensitivity slider previews its threshold on the chart; saving moves the real one.
  document.addEventListener("sensitivity:input", function (event) {
    proposed = event.detail;
    redraw();
  });
  document.addEventListener("htmx:afterSettle", function () {
    var card = document.getElementById("sensitivity");
    if (!card) return;
    var saved = parseFloat(card.getAttribute("data-threshold"));
    if (!isNaN(saved) && saved !== threshold) {
      threshold = saved;
      proposed = null;
      redraw();
    }
  });

  redraw();
  window.detectorChart = chart;
})();
