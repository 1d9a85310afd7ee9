/* The detector page around the chart: the sensitivity slider's readout, explanations kept open
 * across a label change, and a link to #point-<id> opening that point's explanation. */
(function () {
  "use strict";

  function rateText(threshold) {
    var rate = Math.pow(10, -threshold / 25);
    var percent = rate * 100;
    var shown = percent >= 1 ? percent.toFixed(percent >= 10 ? 0 : 1) : percent.toPrecision(1);
    return "about " + shown + "% of normal points flagged (1 in " + Math.round(1 / rate).toLocaleString() + ")";
  }

  document.addEventListener("input", function (event) {
    var slider = event.target;
    if (slider.id !== "threshold") return;
    var value = parseFloat(slider.value);
    var output = document.getElementById("threshold-out");
    if (output) output.textContent = value.toFixed(1);
    var hint = document.getElementById("threshold-rate");
    if (hint) hint.textContent = "Preview: " + rateText(value) + ". Save to apply it to new points.";
    document.dispatchEvent(new CustomEvent("sensitivity:input", { detail: value }));
  });

  // A label button re-renders its row: keep the explanation open if it was.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt.closest ? event.detail.elt.closest(".label-buttons") : null;
    if (!form) return;
    var row = form.closest("tr");
    var details = row ? row.querySelector("details") : null;
    if (details && details.open) event.detail.parameters.open = "1";
  });

  // The same row pushed over the socket (a label from anyone, this page included): keep it open.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    var incoming = event.detail.fragment;
    if (!target || !target.classList || !target.classList.contains("anomaly-row") || !incoming) return;
    var before = target.querySelector("details");
    var after = incoming.querySelector ? incoming.querySelector("details") : null;
    if (before && after && before.open) after.open = true;
  });

  function openFromHash() {
    var match = /^#point-(\d+)$/.exec(window.location.hash);
    if (!match) return;
    var row = document.getElementById("point-" + match[1]);
    var details = row ? row.querySelector("details") : null;
    if (details) {
      details.open = true;
      row.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("DOMContentLoaded", openFromHash);
  window.addEventListener("hashchange", openFromHash);
})();
