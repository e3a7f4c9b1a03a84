/* The metrics page: three charts (runs finished; duration and wait percentiles) drawn by charts.js from the
 * series the page was rendered with ("metrics-series"), kept current without polling: each fetch brings the
 * series and the page's body (tiles, charts' frames, tables) as the server renders it.
 *
 * The page rides ws/queues/ (dashboard.js's connect, with its live state and reconnects): when a run of
 * its selection ends (job:completed, job:failed, job:retrying) it fetches its numbers again from
 * metrics/data/, at most once every data-refresh seconds, and once more after the last of a burst. The numbers
 * are PostgreSQL's percentiles, which events cannot update, so the socket says when and the fetch says
 * what; nothing is fetched while no job of the selection finishes, except once a bucket, as the window
 * moves on. A hidden tab fetches nothing and catches up when shown.
 */
(function () {
  "use strict";

  const ENDS = ["job:completed", "job:failed", "job:retrying"];
  // x labels: how far back, in the window's unit, and their text; fewer on a narrow chart.
  const TICKS = {
    "1h": { unit: 60, wide: [[60, "60 min ago"], [45, "45"], [30, "30"], [15, "15"], [0, "now"]],
      narrow: [[60, "60 min ago"], [30, "30"], [0, "now"]] },
    "24h": { unit: 24, wide: [[24, "24 h ago"], [18, "18"], [12, "12"], [6, "6"], [0, "now"]],
      narrow: [[24, "24 h ago"], [12, "12"], [0, "now"]] },
    "7d": { unit: 7, wide: [[7, "7 d ago"], [6, "6"], [5, "5"], [4, "4"], [3, "3"], [2, "2"], [1, "1"], [0, "now"]],
      narrow: [[7, "7 d ago"], [4, "4"], [2, "2"], [0, "now"]] },
  };

  function setUp(root) {
    const charts = window.QueueCharts;
    const windowKey = root.dataset.window;
    const ticks = TICKS[windowKey];
    const refreshMs = Number(root.dataset.refresh) * 1000;
    const body = root.querySelector("[data-metrics-body]");
    let series = JSON.parse(document.getElementById("metrics-series").textContent);
    let last = 0;
    let timer = null;
    let missed = false;
    let connected = false;

    const when = (row) => (windowKey === "1h" ? `${row[0].slice(11, 16)} UTC` : `${row[0].slice(0, 19).replace("T", " ")} UTC`);
    const xTicks = (plotW) => (plotW >= 420 ? ticks.wide : ticks.narrow).map(([back, text]) => [1 - back / ticks.unit, text]);
    const quantiles = (v) => `p50 ${charts.seconds(v[0])}, p95 ${charts.seconds(v[1])}, p99 ${charts.seconds(v[2])}`;

    function draw() {
      // The body's charts (none in the empty state), drawn again after each fetch replaced them.
      const sum = (k) => series.reduce((total, row) => total + row[k], 0);
      body.querySelectorAll("[data-metrics-chart]").forEach((svg) => {
        const kind = svg.dataset.metricsChart;
        if (kind === "throughput") {
          charts.barChart(svg, series, {
            ticks: xTicks,
            title: (row) => `${when(row)}: ${row[1]} completed, ${row[3]} retried, ${row[2]} failed`,
            label: `${sum(1)} runs completed, ${sum(3)} failed and retried, ${sum(2)} failed for good`,
          });
        } else {
          const k = kind === "duration" ? 4 : 5;
          charts.lineChart(svg, series, {
            values: (row) => row[k],
            ticks: xTicks,
            title: (row) => (row[k][0] === null ? `${when(row)}: no runs` : `${when(row)}: ${quantiles(row[k])}`),
            label: `${kind} percentiles per time slot`,
          });
        }
      });
    }

    function fetchNow() {
      timer = null;
      if (document.hidden) {
        missed = true;
        return;
      }
      last = Date.now();
      fetch(root.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((data) => {
          series = data.series;
          body.innerHTML = data.html;
          root.dataset.fetched = String(Number(root.dataset.fetched || 0) + 1);
          draw();
        })
        .catch(() => {}); // the numbers on the page stay; the next event or bucket tries again
    }

    function soon() {
      // At most one fetch every refreshMs; a burst of events ends with one more fetch, so the last run counts.
      if (timer !== null) return;
      timer = window.setTimeout(fetchNow, Math.max(0, last + refreshMs - Date.now()));
    }

    function mine(job) {
      return (!root.dataset.queue || job.queue === root.dataset.queue) && (!root.dataset.type || job.type === root.dataset.type);
    }

    window.QueueDashboard.connect(root.dataset.wsQueues, (data) => {
      if (data.type === "queues.snapshot") {
        if (connected) soon(); // reconnected: what ended meanwhile
        connected = true;
      }
      if (data.type === "job.event" && ENDS.includes(data.event) && mine(data.job)) soon();
    });
    last = Date.now(); // the page's own numbers are fresh
    window.setInterval(soon, Number(root.dataset.step) * 1000);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && missed) {
        missed = false;
        soon();
      }
    });
    new ResizeObserver(draw).observe(body);
    draw();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("metrics");
    if (root && root.dataset.url && document.getElementById("metrics-series")) setUp(root);
  });
})();
