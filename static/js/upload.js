/* The dataset upload's progress bar: htmx posts the form with XMLHttpRequest and reports
 * htmx:xhr:progress; without JavaScript the form posts normally. */
(function () {
  "use strict";

  function parts(form) {
    var box = form.querySelector("[data-upload-progress]");
    return box && {
      box: box,
      bar: box.querySelector("progress"),
      text: box.querySelector("[data-upload-percent]"),
    };
  }

  function show(form, percent) {
    var p = parts(form);
    if (!p) return;
    p.box.hidden = false;
    p.bar.value = percent;
    p.bar.textContent = percent + "%";
    p.text.textContent = percent < 100 ? percent + "%" : "Checking the file…";
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id === "upload-form") show(event.detail.elt, 0);
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.detail.elt || event.target;
    if (!form || form.id !== "upload-form" || !event.detail.lengthComputable) return;
    var percent = Math.floor((100 * event.detail.loaded) / event.detail.total);
    var bar = form.querySelector("[data-upload-progress] progress");
    if (bar && percent >= bar.value) show(form, percent);
  });
})();
