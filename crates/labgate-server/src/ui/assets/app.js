// labgate's one script. Pages work without it; it adds niceties:
// - <time data-relative datetime=…> keeps saying "3 minutes ago" as time passes;
// - [data-open-dialog=ID] opens <dialog id=ID>, [data-close-dialog] closes its dialog;
// - [data-confirm="…"] on a submit button (or form) asks before the form is sent;
// - [data-copy="…"] copies its text to the clipboard and says so;
// - inside [data-steps], [data-step-to=NAME] shows the [data-step=NAME] section and hides the others;
// - Tab stays inside an open modal dialog.
// - [data-live-jobs=URL][data-live] (a jobs page with a job still running) asks URL every 2 s
//   and updates each [data-job-id] in place, until none runs; with [data-reload-when-done], the
//   page is loaded again then, to show what the job did.
// - [data-reveal=URL] shows a secret's value (fetched from URL, the form token in a header) in
//   the [data-secret-value] beside it, and hides it again; [data-copy-secret=URL] copies it.
// - <input type=file data-read-into=ID> puts the chosen file's text into the textarea ID.
"use strict";

(function () {
  // Keep in step with relative_words in ui/components.rs.
  function relativeWords(now, at) {
    var seconds = Math.round((at - now) / 1000);
    var future = seconds > 0;
    var d = Math.abs(seconds);
    if (d < 45) return "just now";
    var count, unit;
    if (d < 90) { count = 1; unit = "minute"; }
    else if (d < 45 * 60) { count = Math.min(44, Math.max(2, Math.floor((d + 30) / 60))); unit = "minute"; }
    else if (d < 90 * 60) { count = 1; unit = "hour"; }
    else if (d < 22 * 3600) { count = Math.floor((d + 1800) / 3600); unit = "hour"; }
    else if (d < 36 * 3600) { count = 1; unit = "day"; }
    else if (d < 26 * 86400) { count = Math.floor((d + 43200) / 86400); unit = "day"; }
    else if (d < 45 * 86400) { count = 1; unit = "month"; }
    else if (d < 320 * 86400) { count = Math.floor((d + 15 * 86400) / (30 * 86400)); unit = "month"; }
    else if (d < 548 * 86400) { count = 1; unit = "year"; }
    else { count = Math.floor((d + 182 * 86400) / (365 * 86400)); unit = "year"; }
    var words = count + " " + unit + (count === 1 ? "" : "s");
    return future ? "in " + words : words + " ago";
  }

  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (element) {
      var at = Date.parse(element.getAttribute("datetime"));
      if (!isNaN(at)) element.textContent = relativeWords(now, at);
    });
  }

  function openDialog(trigger) {
    var dialog = document.getElementById(trigger.getAttribute("data-open-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    dialog.returnFocusTo = trigger;
    var steps = dialog.querySelector("[data-steps]");
    var firstStep = steps && steps.querySelector("[data-step]");
    if (firstStep) showStep(steps, firstStep.getAttribute("data-step"), false);
    dialog.showModal();
    focusFirst(dialog);
  }

  var FOCUSABLE = "a[href], input:not([type=hidden]):not([disabled]), select:not([disabled]), " +
    "textarea:not([disabled]), button:not([disabled]), summary, [tabindex]:not([tabindex='-1'])";

  function visibleFocusable(root) {
    return Array.prototype.filter.call(root.querySelectorAll(FOCUSABLE), function (element) {
      return element.getClientRects().length > 0 && !element.closest("[hidden]");
    });
  }

  function focusFirst(root) {
    var candidates = visibleFocusable(root).filter(function (element) {
      return !element.hasAttribute("data-close-dialog");
    });
    if (candidates.length) candidates[0].focus();
  }

  function showStep(steps, name, focus) {
    var shown = null;
    steps.querySelectorAll("[data-step]").forEach(function (section) {
      var match = section.getAttribute("data-step") === name;
      section.hidden = !match;
      if (match) shown = section;
    });
    if (shown && focus) focusFirst(shown);
  }

  function copy(button) {
    var text = button.getAttribute("data-copy");
    var label = button.textContent;
    var done = function (message) {
      button.textContent = message;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("Copied"); }, function () { done("Copy failed"); });
    } else {
      done("Copy failed");
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var opener = target.closest("[data-open-dialog]");
    if (opener) { event.preventDefault(); openDialog(opener); return; }
    var closer = target.closest("[data-close-dialog]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) dialog.close();
      return;
    }
    var stepper = target.closest("[data-step-to]");
    if (stepper && stepper.closest("[data-steps]")) {
      event.preventDefault();
      showStep(stepper.closest("[data-steps]"), stepper.getAttribute("data-step-to"), true);
      return;
    }
    var revealer = target.closest("[data-reveal]");
    if (revealer) { event.preventDefault(); reveal(revealer); return; }
    var secretCopier = target.closest("[data-copy-secret]");
    if (secretCopier) { event.preventDefault(); copySecret(secretCopier); return; }
    var copier = target.closest("[data-copy]");
    if (copier) { event.preventDefault(); copy(copier); return; }
    var confirmer = target.closest("button[data-confirm], input[type=submit][data-confirm]");
    if (confirmer && !window.confirm(confirmer.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Secret values: fetched only when asked for (each fetch is an audited read), never kept.
  function fetchSecret(url) {
    var token = document.querySelector("input[name=csrf_token]");
    return fetch(url, {
      credentials: "same-origin",
      headers: { accept: "application/json", "x-csrf-token": token ? token.value : "" },
    }).then(function (response) {
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    });
  }

  function reveal(button) {
    var holder = button.closest(".secret-value");
    var shown = holder && holder.querySelector("[data-secret-value]");
    if (!shown) return;
    if (shown.classList.contains("revealed")) {
      shown.textContent = "••••••••";
      shown.classList.remove("revealed");
      button.textContent = "Reveal";
      return;
    }
    fetchSecret(button.getAttribute("data-reveal")).then(function (answer) {
      shown.textContent = answer.value;
      if (answer.value === "") shown.textContent = "(empty)";
      shown.classList.add("revealed");
      button.textContent = "Hide";
    }, function () {
      shown.textContent = "Could not be read";
    });
  }

  function copySecret(button) {
    var label = button.textContent;
    var done = function (message) {
      button.textContent = message;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    fetchSecret(button.getAttribute("data-copy-secret")).then(function (answer) {
      if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error("no clipboard");
      return navigator.clipboard.writeText(answer.value);
    }).then(function () { done("Copied"); }, function () { done("Copy failed"); });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-read-into")) return;
    var target = document.getElementById(input.getAttribute("data-read-into"));
    var file = input.files && input.files[0];
    if (!target || !file) return;
    file.text().then(function (text) { target.value = text; });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm") &&
        !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Tab and Shift+Tab go round the open dialog instead of leaving it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    var focusable = visibleFocusable(dialog);
    if (!focusable.length) return;
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  });

  // A closed dialog gives focus back to what opened it.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (dialog instanceof HTMLDialogElement && dialog.returnFocusTo) {
      dialog.returnFocusTo.focus();
      dialog.returnFocusTo = null;
    }
  }, true);

  // Keep in step with the markup of ui/jobs.rs (state badge, progress bar, finished, error).
  function updateJob(holder, job) {
    var state = holder.querySelector("[data-job-state]");
    if (state) {
      state.setAttribute("data-job-state", job.state);
      var badge = state.querySelector(".badge");
      if (badge) {
        badge.className = "badge " + job.tone;
        badge.lastChild.textContent = job.stateLabel;
      }
    }
    var bar = holder.querySelector("progress[data-job-bar]");
    if (bar) {
      var measured = job.max !== null && job.max !== undefined;
      if (measured !== bar.hasAttribute("value")) {
        // A new element: Chromium keeps drawing a bar that was indeterminate as empty once it
        // gets a value.
        var fresh = document.createElement("progress");
        fresh.setAttribute("data-job-bar", "");
        bar.replaceWith(fresh);
        bar = fresh;
      }
      if (measured) {
        bar.max = job.max;
        bar.value = job.value;
      }
      bar.className = job.barClass || "bar-" + job.state;
      bar.setAttribute("aria-label", job.progress);
    }
    var phase = holder.querySelector("[data-job-phase]");
    if (phase) phase.textContent = job.progress;
    var counts = holder.querySelector("[data-job-counts]");
    if (counts && job.counts !== undefined) counts.textContent = job.counts;
    var finished = holder.querySelector("[data-job-finished]");
    if (finished && job.finishedAt && !finished.querySelector("time")) {
      var time = document.createElement("time");
      time.setAttribute("datetime", job.finishedAt);
      time.setAttribute("data-relative", "");
      if (job.finishedExact) time.title = job.finishedExact;
      finished.textContent = "";
      finished.appendChild(time);
    }
    var error = holder.querySelector("[data-job-error]");
    if (error && job.lastError) {
      var text = document.createElement("span");
      text.className = "error-text";
      text.textContent = job.lastError;
      error.textContent = "";
      error.appendChild(text);
    }
  }

  function followJobs(container) {
    var url = container.getAttribute("data-live-jobs");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.json();
        })
        .then(function (answer) {
          answer.jobs.forEach(function (job) {
            container.querySelectorAll("[data-job-id]").forEach(function (holder) {
              if (holder.getAttribute("data-job-id") === job.id) updateJob(holder, job);
            });
          });
          refreshTimes();
          if (answer.running) {
            setTimeout(poll, 2000);
          } else if (container.hasAttribute("data-reload-when-done")) {
            window.location.reload();
          } else {
            container.removeAttribute("data-live");
            document.querySelectorAll("[data-live-note]").forEach(function (note) { note.textContent = "all finished"; });
          }
        })
        .catch(function () {
          // A hiccup (a restart, a lost connection) is retried more slowly; a reload shows the state.
          setTimeout(poll, 10000);
        });
    };
    setTimeout(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-jobs][data-live]").forEach(followJobs);
    refreshTimes();
    setInterval(refreshTimes, 30000);
  });
})();
