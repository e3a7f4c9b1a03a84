/* Inline SVG charts of the dashboard, shared by its pages (window.QueueCharts): the stacked bars of jobs
 * completed / retried / failed (the overview's sparklines and "Last hour", the metrics page's throughput) and
 * the lines of p50 / p95 / p99 (the metrics page's duration and wait).
 *
 * A series is a list of rows, one a time slot, oldest first: [iso time, completed, failed, retried, ...].
 * Axis charts are drawn at the element's pixel width, so their text is not stretched; pages redraw them on
 * resize. Colours come from the stylesheet (classes c, r, f; p50, p95, p99).
 */
(function () {
  "use strict";

  const fmt = new Intl.NumberFormat();
  const HEIGHT = 140;
  const [LEFT, RIGHT, TOP, BOTTOM] = [48, 8, 10, 22];

  function seconds(value) {
    // As the templates' `seconds` filter: 12 ms, 3.25 s, 4.0 min.
    if (value === null || value === undefined) return "–";
    if (value < 1) return `${Math.round(value * 1000)} ms`;
    if (value < 120) return `${value.toFixed(2)} s`;
    return `${(value / 60).toFixed(1)} min`;
  }

  function axisSeconds(value) {
    // An axis label: as short as it stays exact (0, 250 ms, 2.5 s, 20 s, 5 min).
    if (value === 0) return "0";
    if (value < 1) return `${+(value * 1000).toPrecision(3)} ms`;
    if (value < 120) return `${+value.toPrecision(3)} s`;
    return `${+(value / 60).toPrecision(3)} min`;
  }

  function niceCeil(value) {
    // The axis top: 1, 2 or 5 times a power of ten, at least the value.
    const power = 10 ** Math.floor(Math.log10(value));
    return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= value);
  }

  function stackedBars(series, { x0, y0, bar, scale, gap }) {
    // One stacked bar a slot from the baseline y0 up: completed, then retried attempts, then failed jobs.
    const parts = [];
    series.forEach((row, i) => {
      const x = (x0 + i * bar).toFixed(2);
      const w = Math.max(bar - gap, 0.6).toFixed(2);
      let top = y0;
      for (const [kind, cls] of [[1, "c"], [3, "r"], [2, "f"]]) {
        const h = (row[kind] || 0) * scale;
        if (!h) continue;
        top -= h;
        parts.push(`<rect class="${cls}" x="${x}" y="${top.toFixed(2)}" width="${w}" height="${h.toFixed(2)}"/>`);
      }
    });
    return parts;
  }

  function sparkline(svg, series, label) {
    // A queue's last hour in a table cell: bars only, no axes.
    const width = 120;
    const height = 28;
    const bar = width / (series.length || 60);
    const peak = Math.max(1, ...series.map((row) => row[1] + row[2] + (row[3] || 0)));
    const parts = stackedBars(series, { x0: 0, y0: height, bar, scale: (height - 1) / peak, gap: 0.4 });
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.innerHTML = `<line class="base" x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}"/>${parts.join("")}`;
    svg.setAttribute("aria-label", label);
  }

  function axisChart(svg, series, { peak, grid, format, ticks, title, label }, plot) {
    // The frame every axis chart shares: y grid lines and labels at `grid`, the slots' x labels, a hover
    // target per slot saying its numbers; `plot` draws the data inside.
    const width = Math.max(240, Math.round(svg.getBoundingClientRect().width));
    const plotW = width - LEFT - RIGHT;
    const plotH = HEIGHT - TOP - BOTTOM;
    const y0 = TOP + plotH;
    const slot = plotW / Math.max(series.length, 1);
    const parts = [];
    for (const value of grid) {
      const y = (y0 - (value / peak) * plotH).toFixed(1);
      parts.push(`<line class="grid" x1="${LEFT}" y1="${y}" x2="${width - RIGHT}" y2="${y}"/>`,
        `<text class="axis" x="${LEFT - 6}" y="${y}" dy="0.32em" text-anchor="end">${format(value)}</text>`);
    }
    parts.push(...plot({ x0: LEFT, y0, slot, scale: plotH / peak }));
    ticks(plotW).forEach(([at, text]) => {
      // `at` runs from 0 (the left edge, the oldest slot's start) to 1 (the right edge: now).
      const anchor = at === 0 ? "start" : at === 1 ? "end" : "middle";
      parts.push(`<text class="axis" x="${(LEFT + at * plotW).toFixed(1)}" y="${HEIGHT - 6}" text-anchor="${anchor}">${text}</text>`);
    });
    series.forEach((row, i) => {
      parts.push(`<rect class="hit" x="${(LEFT + i * slot).toFixed(2)}" y="${TOP}" width="${slot.toFixed(2)}" height="${plotH}"><title>${title(row)}</title></rect>`);
    });
    svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    svg.innerHTML = parts.join("");
    svg.setAttribute("aria-label", label);
  }

  function barChart(svg, series, options) {
    // Completed / retried / failed stacked per slot, with axes (the overview's "Last hour", the metrics page).
    const peak = niceCeil(Math.max(1, ...series.map((row) => row[1] + row[2] + (row[3] || 0))));
    const grid = Number.isInteger(peak / 2) ? [0, peak / 2, peak] : [0, peak]; // counts: no half a job
    axisChart(svg, series, { ...options, peak, grid, format: (v) => fmt.format(v) }, ({ x0, y0, slot, scale }) =>
      stackedBars(series, { x0, y0, bar: slot, scale, gap: Math.min(2, slot * 0.25) }));
  }

  function lineChart(svg, series, { values, ...options }) {
    // p50, p95, p99 per slot (`values(row)` gives the three, null where nothing ran), one line each; a
    // slot without a value breaks the line, and a value with no neighbour is a dot.
    const rows = series.map(values);
    const peak = niceCeil(Math.max(0.001, ...rows.flat().filter((v) => v !== null && v !== undefined)));
    axisChart(svg, series, { ...options, peak, grid: [0, peak / 2, peak], format: axisSeconds }, ({ x0, y0, slot, scale }) => {
      const lines = [];
      const dots = [];
      ["p99", "p95", "p50"].forEach((cls) => { // p50 drawn last, on top
        const k = { p50: 0, p95: 1, p99: 2 }[cls];
        const point = (i) => {
          const v = rows[i] && rows[i][k];
          return v === null || v === undefined ? null : [(x0 + (i + 0.5) * slot).toFixed(2), (y0 - v * scale).toFixed(2)];
        };
        let path = "";
        rows.forEach((_, i) => {
          const p = point(i);
          if (!p) return;
          const joined = i > 0 && point(i - 1);
          path += `${joined ? "L" : "M"}${p[0]} ${p[1]}`;
          if (!joined && !point(i + 1)) dots.push(`<circle class="${cls}" cx="${p[0]}" cy="${p[1]}" r="2"/>`);
        });
        if (path) lines.push(`<path class="${cls}" d="${path}"/>`);
      });
      return [...lines, ...dots];
    });
  }

  window.QueueCharts = { fmt, seconds, niceCeil, sparkline, barChart, lineChart };
})();
