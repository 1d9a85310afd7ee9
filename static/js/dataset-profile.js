/* A histogram per feature of a dataset's profile, drawn with Chart.js from the data-histogram
 * attribute of each canvas ({edges, counts}); also after htmx swaps the profile partial in when
 * the profile is ready (htmx drops <script> blocks from swapped content, hence attributes). */
(function () {
  "use strict";

  function short(value) {
    var size = Math.abs(value);
    if (size === 0) return "0";
    if (size >= 1e6 || size < 1e-3) return value.toExponential(1);
    return String(Number(value.toPrecision(3)));
  }

  function draw() {
    if (!window.Chart) return;
    var accent = window.getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#1f5fbf";
    document.querySelectorAll("canvas[data-histogram]").forEach(function (canvas) {
      if (canvas.getAttribute("data-drawn")) return;
      var histogram = JSON.parse(canvas.getAttribute("data-histogram"));
      if (!histogram || !histogram.counts) return;
      var edges = histogram.edges;
      var labels = histogram.counts.map(function (_, i) {
        return short((edges[i] + edges[i + 1]) / 2);
      });
      new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: labels,
          datasets: [{ data: histogram.counts, backgroundColor: accent, borderWidth: 0, barPercentage: 1, categoryPercentage: 0.96 }],
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                title: function (items) {
                  var i = items[0].dataIndex;
                  return short(edges[i]) + " to " + short(edges[i + 1]);
                },
                label: function (item) { return item.parsed.y + " rows"; },
              },
            },
          },
          scales: {
            x: { ticks: { maxTicksLimit: 5, maxRotation: 0 }, grid: { display: false } },
            y: { ticks: { maxTicksLimit: 4 }, grid: { color: "#eef1f5" } },
          },
        },
      });
      canvas.setAttribute("data-drawn", "true");
    });
  }

  htmx.onLoad(draw);
})();
