/* Queue dashboard: live counts over ws/queues/, throughput charts (drawn by charts.js), relative times,
 * list selection. Other pages ride the same socket through window.QueueDashboard.connect (metrics.js).
 *
 * No polling: the page starts from the numbers it was rendered with (a JSON
 * script "queues-live"), then applies what the socket sends — "queues.snapshot"
 * and "queues.counts" (every queue's counts, pause switch, workers, oldest
 * pending job and its last minutes of throughput), and "job.event" (rows that
 * show the job follow its state). Counts and charts come only from the counts
 * messages, which the relay sends at most a second after events flow
 * (monitoring/live/relay.py): they are read from PostgreSQL, so one can already
 * hold a job whose event arrives after it, and adding events on top would count
 * that job twice. The socket reconnects by itself with backoff, as the job
 * progress view does.
 */
(function () {
  "use strict";

  const STATES = ["pending", "scheduled", "active", "retrying", "completed", "failed", "cancelled"];
  const fmt = new Intl.NumberFormat();
  // name -> {counts, paused, workers, oldest_pending_at, throughput: [[iso, completed, failed, retried]]}
  const queues = new Map();
  const KIND = { completed: 1, failed: 2, retried: 3 };

  // ------------------------------------------------------------------ helpers

  function age(seconds) {
    if (seconds < 1) return "now";
    if (seconds < 60) return `${Math.floor(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
    return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
  }

  function setText(el, value) {
    if (el && el.textContent !== value) el.textContent = value;
  }

  function minuteKey(date) {
    const d = new Date(date);
    d.setSeconds(0, 0);
    return d.getTime();
  }

  // ------------------------------------------------------------------ relative times

  function tickTimes() {
    const now = Date.now();
    document.querySelectorAll("[data-since]").forEach((el) => {
      const since = el.dataset.since;
      if (!since) return setText(el, el.dataset.empty || "–");
      const seconds = (now - Date.parse(since)) / 1000;
      if (Math.abs(seconds) < 1) return setText(el, el.dataset.suffix === "" ? "0 s" : "just now");
      setText(el, el.dataset.future === "1" || seconds < 0 ? `in ${age(-seconds)}` : `${age(seconds)}${el.dataset.suffix ?? " ago"}`);
    });
  }

  // ------------------------------------------------------------------ charts

  function sum(series, kind) {
    return series.reduce((total, row) => total + (row[kind] || 0), 0);
  }

  function describe(series) {
    return `last hour: ${sum(series, 1)} completed, ${sum(series, 3)} failed attempts retried, ` +
      `${sum(series, 2)} jobs failed`;
  }

  function allQueues() {
    // The queues' series added up minute by minute (they share the same 60 minutes).
    const total = [];
    queues.forEach((q) => {
      q.throughput.forEach((row, i) => {
        const at = total[i] || (total[i] = [row[0], 0, 0, 0]);
        at[1] += row[1];
        at[2] += row[2];
        at[3] += row[3] || 0;
      });
    });
    return total;
  }

  // The hour's x labels (minutes ago), fewer on a narrow chart.
  const HOUR_TICKS = [[60, "60 min ago"], [45, "45"], [30, "30"], [15, "15"], [0, "now"]];

  function drawHourChart(svg) {
    const series = allQueues();
    QueueCharts.barChart(svg, series, {
      ticks: (plotW) => HOUR_TICKS.filter(([ago]) => plotW >= 420 || ago % 30 === 0).map(([ago, text]) => [1 - ago / 60, text]),
      // A hover target per minute saying its numbers (UTC, like the dashboard's times).
      title: (row) => `${row[0].slice(11, 16)} UTC: ${row[1]} completed, ${row[3]} retried, ${row[2]} failed`,
      label: describe(series),
    });
    document.querySelectorAll("[data-hour]").forEach((el) => setText(el, fmt.format(sum(series, KIND[el.dataset.hour]))));
  }

  function shiftSeries(series, nowKey) {
    // Keep exactly the last 60 minutes, adding empty minutes as the clock moves on.
    if (!series.length) return series;
    let last = minuteKey(series[series.length - 1][0]);
    while (last < nowKey) {
      last += 60000;
      series.push([new Date(last).toISOString(), 0, 0, 0]);
    }
    while (series.length > 60) series.shift();
    return series;
  }

  // ------------------------------------------------------------------ rendering a queue

  function render(name) {
    const q = queues.get(name);
    if (!q) return;
    STATES.forEach((state) => {
      document.querySelectorAll(`[data-count="${CSS.escape(name)}:${state}"]`).forEach((el) => {
        const value = q.counts[state] ?? 0;
        const text = fmt.format(value);
        if (el.textContent !== text) {
          el.textContent = text;
          el.classList.toggle("zero", value === 0);
          el.classList.remove("bump");
          void el.offsetWidth; // restart the highlight animation
          el.classList.add("bump");
        }
      });
    });
    document.querySelectorAll(`[data-total="${CSS.escape(name)}"]`).forEach((el) => {
      setText(el, fmt.format(STATES.reduce((sum, s) => sum + (q.counts[s] ?? 0), 0)));
    });
    document.querySelectorAll(`[data-paused="${CSS.escape(name)}"]`).forEach((el) => {
      el.hidden = !q.paused;
    });
    document.querySelectorAll(`[data-running="${CSS.escape(name)}"]`).forEach((el) => {
      el.hidden = q.paused;
    });
    if (q.workers !== undefined) {
      document.querySelectorAll(`[data-workers="${CSS.escape(name)}"]`).forEach((el) => {
        setText(el, String(q.workers));
        el.classList.toggle("none", q.workers === 0);
      });
    }
    if (q.oldest_pending_at !== undefined) {
      document.querySelectorAll(`[data-oldest="${CSS.escape(name)}"]`).forEach((el) => {
        el.dataset.since = q.oldest_pending_at || "";
      });
    }
    document.querySelectorAll(`[data-chart="${CSS.escape(name)}"]`).forEach((svg) => QueueCharts.sparkline(svg, q.throughput, describe(q.throughput)));
    document.querySelectorAll(`[data-rate="${CSS.escape(name)}"]`).forEach((el) => {
      setText(el, fmt.format(sum(q.throughput, KIND[el.dataset.kind])));
    });
    renderTotals();
    const hour = document.querySelector("[data-hour-chart]");
    if (hour) drawHourChart(hour);
  }

  function renderTotals() {
    STATES.forEach((state) => {
      const el = document.querySelector(`[data-grand="${state}"]`);
      if (!el) return;
      let total = 0;
      queues.forEach((q) => { total += q.counts[state] ?? 0; });
      setText(el, fmt.format(total));
    });
  }

  function apply(list) {
    list.forEach((incoming) => {
      const q = queues.get(incoming.name) || { throughput: [] };
      q.counts = incoming.counts;
      q.paused = incoming.paused;
      if ("workers" in incoming) q.workers = incoming.workers;
      if ("oldest_pending_at" in incoming) q.oldest_pending_at = incoming.oldest_pending_at;
      if (Array.isArray(incoming.throughput)) q.throughput = incoming.throughput.map((row) => row.slice());
      if (Array.isArray(incoming.throughput_recent)) mergeRecent(q, incoming.throughput_recent);
      queues.set(incoming.name, q);
      render(incoming.name);
    });
    tickTimes();
  }

  function mergeRecent(q, rows) {
    // Count messages carry only the last minutes: the server's exact numbers replace ours for those.
    if (!q.throughput.length || !rows.length) return;
    shiftSeries(q.throughput, minuteKey(rows[rows.length - 1][0]));
    rows.forEach(([at, completed, failed, retried]) => {
      const row = q.throughput.find((r) => minuteKey(r[0]) === minuteKey(at));
      if (row) {
        row[1] = completed;
        row[2] = failed;
        row[3] = retried;
      }
    });
  }

  // ------------------------------------------------------------------ latest jobs and visible rows

  function followRows(event) {
    // Rows on the page that show this job take its new state; the overview's
    // "latest jobs" list takes a new job at the top.
    const job = event.job;
    document.querySelectorAll(`tr[data-job-id="${CSS.escape(job.id)}"] [data-state-cell] .qd-state`).forEach((badge) => {
      badge.className = `qd-state ${job.status}`;
      setText(badge, job.status);
    });
    const table = document.getElementById("latest-jobs");
    const template = document.getElementById("latest-row");
    const root = document.querySelector("[data-ws-queues]");
    if (event.event !== "job:enqueued" || !table || !template || !root) return;
    if (table.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`)) return;
    const row = template.content.firstElementChild.cloneNode(true);
    row.dataset.jobId = job.id;
    const link = row.querySelector("a");
    link.href = root.dataset.jobUrl.replace("00000000-0000-0000-0000-000000000000", job.id);
    link.querySelector("code").textContent = job.id.slice(0, 8);
    row.querySelector("[data-type]").textContent = job.type;
    const queue = row.querySelector("[data-queue]");
    queue.textContent = job.queue;
    queue.href = root.dataset.queueUrl.replace("QUEUE", encodeURIComponent(job.queue));
    const badge = row.querySelector(".qd-state");
    badge.className = `qd-state ${job.status}`;
    badge.textContent = job.status;
    row.querySelector("[data-since]").dataset.since = job.created_at || new Date().toISOString();
    const body = table.tBodies[0];
    body.querySelector("tr.qd-none")?.remove();
    body.prepend(row);
    const keep = Number(table.dataset.latest) || 8;
    while (body.rows.length > Math.max(keep, 8)) body.deleteRow(body.rows.length - 1);
  }

  // ------------------------------------------------------------------ socket

  function live(state, label) {
    document.querySelectorAll("[data-live]").forEach((el) => {
      el.dataset.state = state;
      setText(el, label);
    });
  }

  function connect(path, onMessage, retries = 0) {
    // ws/queues/ with its state in the nav's [data-live]; reconnects by itself with backoff. Every page
    // that rides it passes its own onMessage (the overview and queue pages: onQueuesMessage below).
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${path}`);
    live(retries ? "reconnecting" : "connecting", retries ? "reconnecting…" : "connecting…");
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "queues.snapshot" || data.type === "queues.counts") {
        retries = 0;
        live("live", "live");
      }
      onMessage(data);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4403) return live("forbidden", "not allowed; log in again");
      const delay = Math.min(15000, 500 * 2 ** retries) * (0.8 + Math.random() * 0.4);
      live("reconnecting", `offline; reconnecting in ${Math.max(1, Math.round(delay / 1000))} s`);
      window.setTimeout(() => connect(path, onMessage, retries + 1), delay);
    });
  }

  function onQueuesMessage(data) {
    if (data.type === "queues.snapshot" || data.type === "queues.counts") {
      apply(data.queues);
    } else if (data.type === "job.event" && data.event !== "job:progress") {
      followRows(data);
    }
  }

  window.QueueDashboard = { connect };

  // ------------------------------------------------------------------ job lists

  function setUpList(form) {
    const boxes = () => Array.from(form.querySelectorAll("input[name=ids]"));
    const all = form.querySelector("[data-select-all]");
    const buttons = form.querySelectorAll("[data-needs-selection]");
    const counter = form.querySelector("[data-selected-count]");
    function sync() {
      const chosen = boxes().filter((b) => b.checked).length;
      buttons.forEach((b) => { b.disabled = chosen === 0; });
      if (counter) setText(counter, chosen ? `${chosen} selected` : "");
      if (all) {
        all.checked = chosen > 0 && chosen === boxes().length;
        all.indeterminate = chosen > 0 && chosen < boxes().length;
      }
      boxes().forEach((b) => b.closest("tr")?.classList.toggle("selected", b.checked));
    }
    all?.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      sync();
    });
    form.addEventListener("change", sync);
    form.addEventListener("submit", (event) => {
      const button = event.submitter;
      if (button?.dataset.confirm && !window.confirm(button.dataset.confirm.replace("{n}", boxes().filter((b) => b.checked).length))) {
        event.preventDefault();
      }
    });
    sync();
  }

  function exactCount(el) {
    fetch(el.dataset.countUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => {
        if (!data) return;
        setText(el.querySelector("[data-count-value]"), fmt.format(data.count));
        el.classList.toggle("estimate", !data.exact);
        const mark = el.querySelector("[data-count-mark]");
        if (mark) mark.hidden = data.exact;
        document.querySelectorAll("[data-match-count]").forEach((node) => setText(node, fmt.format(data.count)));
      })
      .catch(() => {});
  }

  // ------------------------------------------------------------------ job page

  function logItem(line) {
    // One log line as _job_sections.html renders it (text only: a message is never markup).
    const item = document.createElement("li");
    item.dataset.line = String(line.number);
    item.className = String(line.level).toLowerCase();
    const time = document.createElement("time");
    time.dateTime = line.at;
    const date = new Date(line.at);
    time.textContent = isNaN(date) ? line.at : date.toISOString().slice(11, 23);
    const level = document.createElement("span");
    level.className = "level";
    level.textContent = line.level;
    const message = document.createElement("span");
    message.className = "message";
    message.textContent = line.message;
    item.append(time, level, message);
    return item;
  }

  function followJob(root) {
    // The progress view keeps #job-progress up to date over its own socket; when the job's
    // state or attempt count changes (or the socket (re)connects), fetch the attempts and timeline
    // sections again. Log lines of the running attempt come over the same socket ("job:log" from
    // job_progress.js): kept here per attempt and appended to that attempt's list after the lines
    // the server rendered, so a refresh of the sections never loses or repeats one.
    const target = document.querySelector("[data-job-sections]");
    if (!root || !target) return;
    let last = `${root.dataset.status}`;
    let timer = null;
    const logs = new Map(); // attempt number -> its lines in order, as they came
    const showLogs = () => {
      target.querySelectorAll("[data-attempt-log]").forEach((list) => {
        const lines = logs.get(Number(list.dataset.attemptLog)) || [];
        let shown = Number(list.lastElementChild?.dataset.line || 0);
        const following = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
        for (const line of lines) {
          if (line.number <= shown) continue;
          list.appendChild(logItem(line));
          shown = line.number;
        }
        const count = list.closest("details")?.querySelector("[data-log-count]");
        if (count) setText(count, `${list.children.length} line${list.children.length === 1 ? "" : "s"}`);
        if (following) list.scrollTop = list.scrollHeight;
      });
    };
    const refresh = () => {
      fetch(target.dataset.url, { credentials: "same-origin" })
        .then((response) => (response.ok ? response.text() : null))
        .then((html) => {
          if (html !== null) target.innerHTML = html;
          showLogs();
        })
        .catch(() => {});
    };
    const refreshSoon = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 150); // a burst of events, one fetch
    };
    root.addEventListener("job:log", (event) => {
      const { attempt, lines } = event.detail;
      const kept = logs.get(attempt) || [];
      for (const line of lines) {
        if (!kept.length || line.number > kept[kept.length - 1].number) kept.push(line);
      }
      logs.set(attempt, kept);
      showLogs();
    });
    root.addEventListener("job:snapshot", refreshSoon); // lines written while the socket was away
    new MutationObserver(() => {
      const now = `${root.dataset.status}|${root.querySelector('[data-field="attempts"]')?.textContent}`;
      if (now === last) return;
      last = now;
      document.querySelectorAll("[data-when-status]").forEach((el) => {
        el.hidden = !el.dataset.whenStatus.split(" ").includes(root.dataset.status);
      });
      refreshSoon();
    }).observe(root, { attributes: true, subtree: true, characterData: true, childList: true });
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    const initial = document.getElementById("queues-live");
    if (initial) {
      apply(JSON.parse(initial.textContent));
      const root = document.querySelector("[data-ws-queues]");
      if (root) connect(root.dataset.wsQueues, onQueuesMessage);
      window.setInterval(() => {
        const nowKey = minuteKey(Date.now());
        queues.forEach((q, name) => {
          const before = q.throughput.length ? minuteKey(q.throughput[q.throughput.length - 1][0]) : nowKey;
          if (before < nowKey) {  // a new minute: the charts move on even while nothing runs
            shiftSeries(q.throughput, nowKey);
            render(name);
          }
        });
      }, 1000);
      const hour = document.querySelector("[data-hour-chart]");
      if (hour) new ResizeObserver(() => drawHourChart(hour)).observe(hour);
    }
    document.querySelectorAll("form[data-job-list]").forEach(setUpList);
    document.querySelectorAll("[data-count-url]").forEach(exactCount);
    followJob(document.getElementById("job-progress"));
    tickTimes();
    window.setInterval(tickTimes, 1000);
  });
})();
