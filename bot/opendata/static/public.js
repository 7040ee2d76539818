// The public page's map (bot/opendata/page.py): Leaflet, served by Aduan itself. Without
// Leaflet or JavaScript the page keeps its figures and its list. Every value from the JSON is
// put in the page as text (textContent), never as HTML.
(function () {
  "use strict";
  var box = document.getElementById("map");
  if (!box) { return; }
  if (!window.L) { box.classList.add("map-off"); box.dataset.state = "off"; return; }

  var categorySelect = document.getElementById("filter-category");
  var statusSelect = document.getElementById("filter-status");
  var count = document.getElementById("map-count");
  var note = box.querySelector(".map-note");
  var unavailable = note ? note.textContent : "";
  if (note) { note.textContent = box.dataset.loading; }

  function escapeHtml(text) {  // Leaflet's attribution is HTML: the setting is text
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function popup(point) {
    var root = document.createElement("div");
    var code = document.createElement("div");
    code.className = "popup-code";
    code.textContent = point.code;
    root.appendChild(code);
    [point.category_name + " · " + point.status_name, point.submitted, point.place, point.text]
      .forEach(function (line) {
        if (!line) { return; }
        var p = document.createElement("div");
        p.textContent = line;
        root.appendChild(p);
      });
    var link = document.createElement("a");
    link.href = point.url;
    link.textContent = box.dataset.details;
    root.appendChild(link);
    return root;
  }

  fetch(box.dataset.points, {credentials: "same-origin"})
    .then(function (response) { return response.json(); })
    .then(function (data) {
      box.textContent = "";
      var map = L.map(box, {scrollWheelZoom: false});
      if (box.dataset.tiles) {
        L.tileLayer(box.dataset.tiles, {
          maxZoom: 19, attribution: escapeHtml(box.dataset.attribution || "")
        }).addTo(map);
      }
      var layer = L.featureGroup().addTo(map);
      var points = data.points || [];

      function draw() {
        layer.clearLayers();
        var category = categorySelect ? categorySelect.value : "";
        var status = statusSelect ? statusSelect.value : "";
        var shown = points.filter(function (p) {
          return (!category || p.category === category) && (!status || p.status === status);
        });
        shown.forEach(function (p) {
          L.circleMarker([p.lat, p.lon], {
            radius: 8, weight: 2, color: "#ffffff", fillColor: p.colour, fillOpacity: 0.9,
            className: "report-marker"
          }).bindPopup(popup(p)).addTo(layer);
        });
        box.dataset.count = String(shown.length);
        if (count) {
          count.textContent = shown.length
            ? box.dataset.shown.replace("{count}", String(shown.length))
            : box.dataset.empty;
        }
        if (shown.length) {
          map.fitBounds(layer.getBounds(), {padding: [30, 30], maxZoom: 16});
        } else {
          map.setView([-2.5, 118], 4);  // Indonesia, when nothing matches
        }
      }

      if (categorySelect) { categorySelect.addEventListener("change", draw); }
      if (statusSelect) { statusSelect.addEventListener("change", draw); }
      draw();
      box.dataset.state = "ready";
    })
    .catch(function () {
      box.textContent = unavailable;
      box.classList.add("map-off");
      box.dataset.state = "off";
    });
}());
