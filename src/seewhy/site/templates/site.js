"use strict";
(function () {
  // Filters: a changed menu applies at once (the Filter button does the same without script).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });
  // The compare form: count the ticked releases and mark their rows.
  var form = document.getElementById("compare-form");
  if (form) {
    var button = document.getElementById("compare-button");
    var label = document.getElementById("selected-count");
    var update = function () {
      var boxes = form.querySelectorAll("input[name=id]");
      var n = 0;
      boxes.forEach(function (b) {
        var row = b.closest("tr");
        if (row) { row.classList.toggle("picked", b.checked); }
        if (b.checked) { n += 1; }
      });
      if (button) { button.disabled = n === 0; }
      if (label) {
        label.textContent = n === 0 ? "Tick releases to compare them"
          : n === 1 ? "1 release selected: tick another to compare"
          : n + " releases selected";
      }
    };
    form.addEventListener("change", update);
    update();
  }
  // Expand / collapse every item (run pages).
  document.querySelectorAll("button[data-expand]").forEach(function (b) {
    b.addEventListener("click", function () {
      var open = b.getAttribute("data-open") === "1";
      document.querySelectorAll(b.getAttribute("data-expand") + " details").forEach(function (d) { d.open = open; });
    });
  });
  // Client-side sorting of small tables (the runs list).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, index) {
      th.tabIndex = 0;
      var sort = function () {
        var numeric = th.classList.contains("num");
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        var rows = Array.prototype.slice.call(table.tBodies[0].rows);
        var key = function (row) {
          var c = row.cells[index];
          var v = c.getAttribute("data-sort");
          return v === null ? c.textContent.trim().toLowerCase() : v;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (numeric) { return (parseFloat(x) - parseFloat(y)) * dir; }
          return x < y ? -dir : x > y ? dir : 0;
        });
        th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });
})();
