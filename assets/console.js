// Clarion console: small progressive enhancements; every page works without
// them (forms post normally, the progress page has a refresh link and a
// <noscript> meta refresh). Loaded with the page's CSP nonce.
(function () {
  "use strict";

  // Alert progress: poll the JSON endpoint while the alert is sending.
  var progress = document.getElementById("progress");
  if (progress && progress.dataset.sending === "true") {
    var url = progress.dataset.progressUrl;
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          ["recipients", "queued", "sent", "failed", "expired", "rate", "eta"].forEach(function (k) {
            var el = progress.querySelector('[data-count="' + k + '"]');
            if (el) { el.textContent = p[k]; }
          });
          // The expected end and its warning appear once a pace is known.
          var eta = document.getElementById("alert-eta");
          if (eta) { eta.hidden = !p.eta; }
          var late = document.getElementById("eta-late");
          if (late) {
            late.hidden = !p.late_text;
            late.querySelector("p").textContent = p.late_text || "";
          }
          var bar = document.getElementById("progress-bar");
          if (bar) {
            bar.max = Math.max(p.recipients, p.done, 1);
            bar.value = p.done;
            bar.textContent = p.done + "/" + bar.max;
          }
          var status = document.getElementById("alert-status");
          if (status) { status.textContent = p.status_label; }
          if (p.status === "sending") { setTimeout(tick, 2000); }
        })
        .catch(function () { setTimeout(tick, 5000); });
    };
    setTimeout(tick, 1000);
  }

  // Live preview: after a pause in typing, render the unsaved subject and
  // body for the sample supporter (the HTML part in its sandboxed frame).
  var form = document.getElementById("alert-form");
  var button = document.getElementById("preview-button");
  if (form && button) {
    var timer = null;
    var refresh = function () {
      var data = new FormData(form);
      data.set("format", "json");
      fetch(button.getAttribute("formaction"), {
        method: "POST",
        credentials: "same-origin",
        body: new URLSearchParams(data)
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          var text = document.getElementById("preview-text");
          if (text) { text.textContent = p.text; }
          var subject = document.getElementById("preview-subject");
          if (subject) { subject.textContent = p.subject; }
        });
      // The HTML part: the same form submitted into the preview frame.
      form.requestSubmit ? form.requestSubmit(button) : button.click();
    };
    form.addEventListener("input", function (e) {
      // Only the alert's own text is previewed live: a language row has
      // its own button, whose preview the frame keeps.
      if (e.target.id !== "subject" && e.target.id !== "body_markdown") { return; }
      clearTimeout(timer);
      timer = setTimeout(refresh, 800);
    });
  }
})();

// The audience a send would reach, counted as the compose form changes
// (lists, "leave out people who already signed", countries, languages).
(function () {
  "use strict";
  var out = document.getElementById("audience-live");
  var form = document.getElementById("alert-form");
  if (!out || !form || !out.dataset.countUrl) { return; }
  var timer = null;
  var count = function () {
    fetch(out.dataset.countUrl, {
      method: "POST",
      credentials: "same-origin",
      body: new URLSearchParams(new FormData(form))
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) { out.textContent = p && p.text ? p.text : ""; })
      .catch(function () { out.textContent = ""; });
  };
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(count, 300); });
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(count, 800); });
  count();
})();

// A form that came back with mistakes: move focus to its error summary, so
// screen-reader and keyboard users learn of them at once.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary[tabindex]");
  if (summary) { summary.focus(); }
})();
