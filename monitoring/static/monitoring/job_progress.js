/* Live job progress: render the page's snapshot, then follow ws/jobs/<id>/.
 *
 * Messages: {"type": "job.snapshot", "job", "seq"} on every (re)connect, then
 * {"type": "job.event", "event", "job", "seq", "at"}. Events numbered at or
 * below what was already applied are stale and skipped. Lines the running
 * attempt logged come as {"type": "job.log", "job_id", "attempt", "lines"};
 * this view does not show them: it passes them on as a "job:log" DOM event on
 * #job-progress (and each snapshot as "job:snapshot") for the page around it
 * (dashboard.js lists them under their attempt). The socket reconnects
 * by itself with exponential backoff (0.5 s doubling to 15 s, with jitter),
 * except after 4403 (not allowed) or 4404 (no such job); after 4429 (the page
 * fell behind) it reconnects to a fresh snapshot like after any other close.
 * Events carry payload and result cut to a preview, named in job.truncated:
 * the page keeps the snapshot's payload and fetches a cut result once from
 * GET /api/jobs/<id> (data-api-path).
 */
(function () {
  "use strict";

  const root = document.getElementById("job-progress");
  if (!root) return;
  const FINAL = new Set(["completed", "failed", "cancelled"]);
  // Only these wait for a time: anywhere else a run_at is history, not a next run.
  const WAITING = new Set(["scheduled", "retrying"]);
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  // The stages of the current attempt only: a retry starts its chips again.
  let stages = [];
  let stagesOf = null;
  let shown = null;
  let seq = 0;
  let retries = 0;

  function text(name, value) {
    const el = field(name);
    if (el && el.textContent !== value) el.textContent = value;
  }

  function when(value) {
    // The dashboard's one format (UTC, as the server renders the attempts and lifecycle beside it).
    if (!value) return "–";
    const date = new Date(value);
    return isNaN(date) ? value : date.toISOString().slice(0, 19).replace("T", " ");
  }

  function progressLine(job, progress) {
    // What the line under the bar says: the running attempt's stage, or what the job's state means now.
    if (job.status === "active") return [progress.stage || "", progress.message || ""];
    if (job.status === "retrying") return [`attempt ${job.attempts} of ${job.max_attempts} failed`, `next attempt ${when(job.run_at)}`];
    if (job.status === "completed") return ["", ""];
    if (FINAL.has(job.status)) return [progress.stage ? `stopped at ${progress.stage}` : "", ""];
    if (job.attempts) return [`attempt ${job.attempts + 1} of ${job.max_attempts} next`, ""];
    return ["", ""];
  }

  function pretty(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function render(job) {
    // A snapshot read from the database may trail the last progress event a little:
    // within the same run, never move the bar back.
    let progress = job.progress || { percent: 0, stage: "", message: "" };
    if (shown && shown.status === job.status && shown.attempts === job.attempts &&
        progress.percent < shown.progress.percent) {
      progress = shown.progress;
    }
    shown = { ...job, progress };
    const percent = Math.max(0, Math.min(100, progress.percent || 0));

    root.dataset.status = job.status;
    text("status", job.status);
    field("fill").style.width = `${percent}%`;
    field("bar").setAttribute("aria-valuenow", String(percent));
    text("percent", `${percent} %`);
    const [stage, message] = progressLine(job, progress);
    text("stage", stage);
    text("message", message);
    text("queue", job.queue);
    text("attempts", `${job.attempts} of ${job.max_attempts}`);
    text("priority", String(job.priority));
    for (const name of ["created_at", "started_at", "finished_at"]) text(name, when(job[name]));
    text("run_at", WAITING.has(job.status) ? when(job.run_at) : "–");
    text("correlation_id", job.correlation_id || "–");
    text("payload", pretty(job.payload));

    field("result-box").hidden = job.result === null || job.result === undefined;
    text("result", field("result-box").hidden ? "" : pretty(job.result));
    field("error-box").hidden = !job.error;
    text("error", job.error || "");

    if (stagesOf !== job.attempts) {
      stages = [];
      stagesOf = job.attempts;
    }
    if (job.status === "active" || FINAL.has(job.status)) {
      if (progress.stage && stages[stages.length - 1] !== progress.stage) stages.push(progress.stage);
    }
    renderStages(job.status);
  }

  function renderStages(status) {
    // The last chip is "current" while the attempt runs, "stopped" where a failed or cancelled one ended.
    const list = field("stages");
    while (list.children.length > stages.length) list.lastChild.remove();
    while (list.children.length < stages.length) list.appendChild(document.createElement("li"));
    const last = status === "completed" ? "done" : FINAL.has(status) || status === "retrying" ? "stopped" : "current";
    list.dataset.attempt = String(stagesOf);
    stages.forEach((stage, i) => {
      const item = list.children[i];
      item.textContent = stage;
      item.className = i === stages.length - 1 ? last : "done";
    });
  }

  function whole(job) {
    // An event's payload or result may be a preview (job.truncated): the payload never changes, so
    // the one shown stays; a cut result is fetched whole (the socket's later events win meanwhile).
    const cut = job.truncated || [];
    if (!cut.length) return job;
    const full = { ...job };
    if (cut.includes("payload") && shown) full.payload = shown.payload;
    if (cut.includes("result")) {
      full.result = shown ? shown.result : null;
      const at = seq;
      fetch(root.dataset.apiPath, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((row) => { if (row && at === seq) render(row); })
        .catch(() => {});
    }
    return full;
  }

  function live(state, label) {
    const el = field("live");
    el.dataset.state = state;
    el.textContent = label;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${root.dataset.wsPath}`);
    live(retries ? "reconnecting" : "connecting", retries ? "reconnecting…" : "connecting…");

    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "job.snapshot") {
        seq = data.seq || 0;
        retries = 0;
        live("live", FINAL.has(data.job.status) ? "up to date" : "live");
        render(data.job);
        root.dispatchEvent(new CustomEvent("job:snapshot"));
      } else if (data.type === "job.log") {
        // Not a state: it leaves seq alone (the page orders lines by their number within the attempt).
        root.dispatchEvent(new CustomEvent("job:log", { detail: data }));
      } else if (data.type === "job.event") {
        if (typeof data.seq === "number") {
          if (data.seq <= seq) return;
          seq = data.seq;
        }
        render(whole(data.job));
        if (FINAL.has(data.job.status)) live("live", "up to date");
      }
    });

    socket.addEventListener("close", (event) => {
      if (event.code === 4403) return live("forbidden", "not allowed to watch this job; log in again");
      if (event.code === 4404) return live("gone", "this job no longer exists");
      const delay = Math.min(15000, 500 * 2 ** retries) * (0.8 + Math.random() * 0.4);
      retries += 1;
      live("reconnecting", `offline; reconnecting in ${Math.max(1, Math.round(delay / 1000))} s`);
      window.setTimeout(connect, delay);
    });
  }

  const initial = JSON.parse(document.getElementById("job-snapshot").textContent);
  seq = initial.seq || 0;
  render(initial.job);
  connect();
})();
