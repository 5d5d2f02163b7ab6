// LearnPulse ops view: polls /v1/ops/stats and turns the pipeline's counters into rates.
"use strict";

(function () {
  const POLL_MS = 2000;
  const KEEP = 60; // points per sparkline (two minutes)
  const METRICS = [["m-events", "events_total"], ["m-recos", "recos_total"], ["m-nudges", "nudges_total"]];
  const $ = (id) => document.getElementById(id);
  const history = { events_total: [], recos_total: [], nudges_total: [] };
  let prev = null;

  function fmt(x) {
    if (x >= 10000) return Math.round(x / 1000) + "k";
    if (x >= 100) return String(Math.round(x));
    return x.toFixed(1);
  }

  function spark(svg, points) {
    const max = Math.max(1, ...points);
    const step = 120 / (KEEP - 1);
    const start = KEEP - points.length;
    const xy = points.map((v, i) => ((start + i) * step).toFixed(1) + "," + (58 - (v / max) * 54).toFixed(1));
    svg.querySelector("polyline").setAttribute("points", xy.join(" "));
    if (xy.length) {
      const first = (start * step).toFixed(1);
      svg.querySelector(".area").setAttribute("points", first + ",60 " + xy.join(" ") + " 120,60");
    }
  }

  function setStatus(state, text) {
    $("status").dataset.state = state;
    $("status-text").textContent = text;
  }

  async function poll() {
    try {
      const res = await fetch("/v1/ops/stats", { cache: "no-store" });
      if (!res.ok) throw new Error(String(res.status));
      const body = await res.json();
      setStatus("live", "Live");
      $("sse").textContent = String(body.delivery.sse_clients);
      const p = body.pipeline;
      $("notice").hidden = !!p;
      if (p) {
        const age = body.server_time_ms - p.updated_at_ms;
        $("age").textContent = p.updated_at_ms ? Math.max(0, Math.round(age / 1000)) + " s ago" : "never";
        METRICS.forEach(([id, field]) => {
          const card = $(id);
          card.querySelector(".total").textContent = p[field].toLocaleString() + " in total";
          if (prev && prev.pipeline) {
            const dt = (body.server_time_ms - prev.server_time_ms) / 1000;
            const rate = dt > 0 ? Math.max(0, (p[field] - prev.pipeline[field]) / dt) : 0;
            card.querySelector(".value").textContent = fmt(rate);
            history[field].push(rate);
            if (history[field].length > KEEP) history[field].shift();
            spark(card.querySelector(".spark"), history[field]);
          }
        });
      } else {
        $("age").textContent = "never";
      }
      $("updated").textContent = "updated " + new Date(body.server_time_ms).toLocaleTimeString();
      prev = body;
    } catch (e) {
      setStatus("offline", "API unreachable");
    }
  }

  poll();
  setInterval(poll, POLL_MS);
})();
