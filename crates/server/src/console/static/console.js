// sendwell console: enhancements only. Every page works without this file:
// each form also works as a plain submit.
"use strict";

// Forms whose button is marked data-confirm ask before they are sent.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var text = button && button.getAttribute("data-confirm");
  if (text && !window.confirm(text)) {
    event.preventDefault();
  }
});

// Audiences: the counts follow the filter as it is typed. The page is
// fetched as it would be on submit, and its counts and the filter's error
// are taken from it; the field being typed in is left alone.
(function () {
  var form = document.querySelector("form[data-live=counts]");
  if (!form || !window.fetch || !window.DOMParser) {
    return;
  }
  var timer = null;
  var asked = 0;
  var pending = null;
  function refresh() {
    var mine = ++asked;
    // One count at a time: a newer filter cancels the count of an older one.
    if (pending && window.AbortController) {
      pending.abort();
    }
    pending = window.AbortController ? new AbortController() : null;
    var query = new URLSearchParams(new FormData(form)).toString();
    fetch(form.action + "?" + query, { credentials: "same-origin", signal: pending ? pending.signal : undefined })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== asked) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("live-counts");
        var shown = document.getElementById("live-counts");
        if (fresh && shown) {
          shown.replaceWith(fresh);
        }
        var field = document.getElementById("filter");
        var oldError = document.getElementById("filter-error");
        var newError = page.getElementById("filter-error");
        if (oldError) {
          oldError.remove();
        }
        if (newError && field) {
          field.insertAdjacentElement("afterend", document.importNode(newError, true));
          field.setAttribute("aria-invalid", "true");
        } else if (field) {
          field.removeAttribute("aria-invalid");
        }
      })
      .catch(function () { /* the Count button still works */ });
  }
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  });
  form.addEventListener("change", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 50);
  });
})();

// Imports: a large file's upload shows its progress. The form is sent as
// it would be without this script; the answer replaces the page.
(function () {
  var form = document.querySelector("form[data-progress]");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var bar = document.getElementById(form.getAttribute("data-progress"));
  var label = bar && document.getElementById(bar.getAttribute("aria-labelledby"));
  form.addEventListener("submit", function (event) {
    if (!bar) {
      return;
    }
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
      }
    });
    request.addEventListener("load", function () {
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () {
      form.submit();
    });
    if (label) {
      label.hidden = false;
    }
    request.send(new FormData(form));
  });
})();

// Templates: the preview follows the editor as it is typed, by pressing the
// Preview button for the person (it sends the parts to the preview frame).
(function () {
  var button = document.querySelector("button[data-live-preview]");
  var form = button && button.form;
  if (!form || !form.requestSubmit) {
    return;
  }
  var timer = null;
  form.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { form.requestSubmit(button); }, 600);
  });
  // The preview of the template as saved, at once.
  form.requestSubmit(button);
})();
