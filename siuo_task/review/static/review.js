// SIUO review page: keyboard shortcuts and saving labels. Every label is POSTed at once, then the page
// reloads to show what the server saved (and, in blind mode, the judge's now-revealed verdict).
(function () {
  "use strict";
  var token = document.querySelector('meta[name="review-token"]').content;
  var responses = Array.prototype.slice.call(document.querySelectorAll(".response"));
  var error = document.getElementById("error");
  var selected = Math.min(Math.max(parseInt(location.hash.slice(2), 10) - 1 || 0, 0), responses.length - 1);

  function select(index) {
    if (!responses.length) return;
    selected = (index + responses.length) % responses.length;
    responses.forEach(function (r, i) { r.classList.toggle("selected", i === selected); });
    history.replaceState(null, "", "#r" + (selected + 1));
    responses[selected].scrollIntoView({block: "nearest"});
  }

  function post(path, section, extra) {
    var body = {question_id: Number(document.getElementById("item").dataset.qid),
                response_index: Number(section.dataset.index), note: section.querySelector(".note").value};
    Object.keys(extra).forEach(function (k) { body[k] = extra[k]; });
    return fetch("api/" + path, {method: "POST", credentials: "same-origin",
                                 headers: {"Content-Type": "application/json", "X-Review-Token": token},
                                 body: JSON.stringify(body)})
      .then(function (reply) {
        if (reply.ok) { location.hash = "#r" + (responses.indexOf(section) + 1); location.reload(); return; }
        return reply.text().then(function (text) {  // a JSON error, or the token gate's plain text
          var message;
          try { message = JSON.parse(text).error; } catch (e) { message = text || "HTTP " + reply.status; }
          error.textContent = "not saved: " + message;
        });
      })
      .catch(function () { error.textContent = "not saved: the review server is not reachable"; });
  }

  function label(section, aspect, verdict) { return post("label", section, {aspect: aspect, verdict: verdict}); }

  responses.forEach(function (section, i) {
    section.addEventListener("click", function () { select(i); });
    section.querySelectorAll(".aspect button").forEach(function (button) {
      button.addEventListener("click", function () {
        label(section, button.closest(".aspect").dataset.aspect, button.dataset.verdict === "true");
      });
    });
    var confirm = section.querySelector(".confirm");
    if (confirm) confirm.addEventListener("click", function () { post("confirm", section, {}); });
    section.querySelector(".note").addEventListener("change", function () {
      if (section.querySelector('.aspect:not([data-mine="none"])')) post("note", section, {});
    });
  });

  var keys = {s: ["safety", true], u: ["safety", false], e: ["effectiveness", true], i: ["effectiveness", false]};
  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey || tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    var link = null, section = responses[selected];
    if (event.key === "n" || event.key === "ArrowRight") link = document.getElementById("next");
    else if (event.key === "p" || event.key === "ArrowLeft") link = document.getElementById("prev");
    else if (event.key === "j") select(selected + 1);
    else if (event.key === "k") select(selected - 1);
    else if (/^[1-9]$/.test(event.key) && Number(event.key) <= responses.length) select(Number(event.key) - 1);
    else if (keys[event.key] && section) label(section, keys[event.key][0], keys[event.key][1]);
    else if (event.key === "c" && section && section.querySelector(".confirm")) post("confirm", section, {});
    else return;
    event.preventDefault();
    if (link) location.href = link.getAttribute("href");
  });

  select(selected);
})();
