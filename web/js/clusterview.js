// clusterview.js — the Cluster view: a card per worker group from GET /v1/cluster, polled every
// 2 s while the view is shown, with small live charts of the last 2 minutes.
//
// Promises:
//   - appendSample(samples, snap, windowS) returns the samples (answers of /v1/cluster, oldest
//     first) with `snap` added last, dropping those more than windowS older than it and any
//     not older (the server's clock went back);
//   - counterRate(prev, cur, pick) is the per-second rate of a counter between two answers
//     (a counter that went down restarted from zero), or null when it cannot be told;
//   - viewModel(samples, windowS) turns the samples into what the cards show: per group its
//     facts, load = running/max_batch, KV-cache use, tokens/s, steps/s, GPU lines, and the series
//     [[time, value], ...] the charts draw over `window`: the samples' span, at least 20 s and at
//     most windowS, ending at the last answer. A group's tokens/s, over the last 10 s, is from
//     its own counter, which the coordinator keeps as tokens arrive (cluster_endpoint.h; an
//     embedding group's are input tokens); from a server without it, its model's counter
//     (counted when requests end; several groups of one model share it, and the card says so);
//   - chartPath(points, box) is the SVG path of a series scaled into box {width, height, t0, t1,
//     yMax}: M/L commands, a new M after a gap of more than 6 s (a hidden tab, a lost answer),
//     a lone point as a segment of length 0 (drawn as a dot);
//   - gpuLine(reading) is a GPU's one-line text, leaving out what the device did not report;
//   - mountClusterView(root, getConn, fetchCluster) draws into `root` and returns {show, hide}:
//     polling runs only while shown and the page is visible; failures are shown in plain words
//     (api.js) above the cards, which keep their last state.
// Hooks for tests: .group-card[data-group][data-up], .tok-s[data-value], svg.chart[data-points].

import { el } from './dom.js';

const GIB = 1024 ** 3;
export const POLL_MS = 2000;
export const WINDOW_S = 120;
const RATE_WINDOW_S = 10;
const GAP_S = 6;
const MIN_SPAN_S = 20;

export function appendSample(samples, snap, windowS = WINDOW_S) {
  if (!snap || !Number.isFinite(snap.time)) return samples;
  const kept = samples.filter((s) => s.time < snap.time && s.time >= snap.time - windowS);
  kept.push(snap);
  return kept;
}

export function counterRate(prev, cur, pick) {
  if (!prev || !cur) return null;
  const dt = cur.time - prev.time;
  const a = pick(prev), b = pick(cur);
  if (!(dt > 0) || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  return (b >= a ? b - a : b) / dt;
}

const byName = (list, name) => (list || []).find((x) => x.name === name);

// The counter that tells a group's work: its own generated tokens (input tokens for
// embedders), counted live by the coordinator; from servers that do not report them per group,
// its model's (counted when requests end).
function tokenCounter(model, groupName) {
  const embed = model && model.task === 'embed';
  const own = embed ? 'embedded_tokens_total' : 'generation_tokens_total';
  const key = embed ? 'prompt_tokens_total' : 'generation_tokens_total';
  return (snap) => {
    const g = byName(snap.groups, groupName);
    if (g && Number.isFinite(g[own])) return g[own];
    const m = model ? byName(snap.models, model.name) : null;
    return m ? m[key] : NaN;
  };
}

// The sample at least `seconds` before the last (the oldest one if none is that old).
function sampleBefore(samples, seconds) {
  const last = samples[samples.length - 1];
  for (let i = samples.length - 2; i >= 0; i--) if (last.time - samples[i].time >= seconds) return samples[i];
  return samples.length > 1 ? samples[0] : null;
}

export function viewModel(samples, windowS = WINDOW_S) {
  const last = samples[samples.length - 1];
  if (!last) return { time: null, groups: [], up: 0 };
  const groups = (last.groups || []).map((g) => {
    const model = byName(last.models, g.model);
    const tokens = tokenCounter(model, g.name);
    const perGroup = Number.isFinite(g[model && model.task === 'embed' ? 'embedded_tokens_total' : 'generation_tokens_total']);
    const group = (snap) => byName(snap.groups, g.name);
    const tok = [], kv = [];
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i], here = group(s);
      if (!here) continue;
      kv.push([s.time, here.up ? here.kv_usage : 0]);
      const r = i > 0 && here.up ? counterRate(samples[i - 1], s, tokens) : null;
      if (r !== null) tok.push([s.time, r]);
    }
    const prev = sampleBefore(samples, RATE_WINDOW_S);
    const steps = (snap) => (group(snap) || {}).steps_total;
    const up = Boolean(g.up);
    return {
      name: g.name,
      up,
      model: g.model || null,
      task: model ? model.task : null,
      tp: g.tp ?? null,
      maxBatch: g.max_batch ?? null,
      running: g.running || 0,
      waiting: g.waiting || 0,
      inFlight: g.in_flight || 0,
      load: up && g.max_batch > 0 ? (g.running || 0) / g.max_batch : 0,
      kvUsage: up ? g.kv_usage || 0 : 0,
      kvUsed: g.kv_used_blocks || 0,
      kvTotal: g.kv_total_blocks || 0,
      tokS: up ? counterRate(prev, last, tokens) : null,
      tokLabel: model && model.task === 'embed' ? 'input tokens/s' : 'tokens/s',
      sharedBy: !perGroup && model && model.groups_up > 1 ? model.groups_up : 0,
      stepsS: up && prev && group(prev) ? counterRate(prev, last, steps) : null,
      uptimeS: g.uptime_s ?? null,
      restarts: g.restarts || 0,
      jobExits: g.job_exits || 0,
      gpus: (g.gpus || []).map((r) => ({
        device: r.device,
        text: gpuLine(r),
        mem: r.memory_total_bytes > 0 ? r.memory_used_bytes / r.memory_total_bytes : null,
        util: Number.isFinite(r.utilization) ? r.utilization : null,
      })),
      series: { tok, kv },
      window: [Math.max(last.time - windowS, Math.min(samples[0].time, last.time - MIN_SPAN_S)), last.time],
    };
  });
  return { time: last.time, groups, up: groups.filter((g) => g.up).length };
}

export function chartPath(points, { width, height, t0, t1, yMax }) {
  if (!points.length || !(t1 > t0)) return '';
  const top = yMax > 0 ? yMax : 1;
  const x = (t) => ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * width;
  const y = (v) => height - (Math.min(Math.max(v, 0), top) / top) * height;
  let d = '', prevT = null, run = 0;
  const endRun = () => { // a lone point: a segment of length 0, which round caps draw as a dot
    if (run === 1) d += d.slice(d.lastIndexOf('M')).replace('M', 'L');
  };
  for (const [t, v] of points) {
    const gap = prevT === null || t - prevT > GAP_S;
    if (gap) endRun();
    run = gap ? 1 : run + 1;
    d += `${gap ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    prevT = t;
  }
  endRun();
  return d;
}

export function gpuLine(r) {
  const parts = [`GPU ${r.device}`];
  if (r.name) parts.push(r.name);
  if (Number.isFinite(r.memory_used_bytes) && Number.isFinite(r.memory_total_bytes))
    parts.push(`${(r.memory_used_bytes / GIB).toFixed(1)}/${(r.memory_total_bytes / GIB).toFixed(1)} GiB`);
  if (Number.isFinite(r.utilization)) parts.push(`${Math.round(r.utilization * 100)}% busy`);
  if (Number.isFinite(r.temperature_celsius)) parts.push(`${Math.round(r.temperature_celsius)} °C`);
  if (Number.isFinite(r.power_watts))
    parts.push(Number.isFinite(r.power_limit_watts)
      ? `${Math.round(r.power_watts)}/${Math.round(r.power_limit_watts)} W`
      : `${Math.round(r.power_watts)} W`);
  return parts.join(' · ');
}

export function formatDuration(s) {
  if (!Number.isFinite(s)) return '—';
  s = Math.floor(s);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

export function formatRate(r) {
  if (r === null || !Number.isFinite(r)) return '—';
  return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
}

// --- drawing (browser only) ---------------------------------------------------------------

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// A bar of a 0..1 ratio (width set through the CSSOM: the page's CSP allows no style attribute).
function bar(ratio, label) {
  const outer = el('div', 'bar');
  outer.setAttribute('role', 'img');
  outer.setAttribute('aria-label', label);
  const fill = el('div', 'bar-fill');
  const r = Math.min(Math.max(ratio || 0, 0), 1);
  fill.style.width = `${(r * 100).toFixed(1)}%`;
  if (r >= 0.9) fill.classList.add('high');
  outer.append(fill);
  return outer;
}

function chart(kind, title, points, window, yMax, unit) {
  const width = 240, height = 44;
  const box = { width, height, t0: window[0], t1: window[1], yMax };
  const peak = points.reduce((m, [, v]) => Math.max(m, v), 0);
  const figure = el('figure', `chart-box chart-${kind}`);
  const caption = el('figcaption', 'chart-title');
  caption.append(el('span', 'chart-name', title));
  if (points.length) caption.append(el('span', 'chart-peak', `max ${formatRate(peak)}${unit}`));
  const s = svg('svg', {
    class: `chart chart-${kind}`, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none',
    role: 'img', 'data-points': String(points.length),
    'aria-label': `${title}, last ${formatDuration(window[1] - window[0])}: peak ${formatRate(peak)}${unit || ` ${title}`}`,
  });
  s.append(svg('line', { class: 'chart-base', x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }));
  const d = chartPath(points, box);
  if (d) {
    // The area under the line, one closed shape per unbroken run.
    const area = d.split('M').filter(Boolean).map((run) => {
      const coords = run.split('L');
      const first = coords[0].split(',')[0], lastX = coords[coords.length - 1].split(',')[0];
      return `M${first},${height}L${run}L${lastX},${height}Z`;
    }).join('');
    s.append(svg('path', { class: 'chart-area', d: area }));
    s.append(svg('path', { class: 'chart-line', d, 'vector-effect': 'non-scaling-stroke' }));
  }
  figure.append(caption, s);
  return figure;
}

function fact(label, value, className) {
  const row = el('div', `fact${className ? ` ${className}` : ''}`);
  row.append(el('dt', '', label), value instanceof Node ? value : el('dd', '', value));
  return row;
}

function groupCard(g) {
  const card = el('article', 'group-card');
  card.dataset.group = g.name;
  card.dataset.up = String(g.up);
  const head = el('header', 'group-head');
  const title = el('h3', 'group-name', g.name);
  const state = el('span', `pill ${g.up ? 'up' : 'down'}`, g.up ? 'up' : 'down');
  head.append(title, state);
  const model = el('p', 'group-model', g.model ? `${g.model}${g.task ? ` · ${g.task}` : ''}` : 'not registered yet');

  const facts = el('dl', 'facts');
  const pct = (r) => `${Math.round(r * 100)}%`;
  const load = el('dd');
  load.append(`${g.running}/${g.maxBatch ?? '—'}${g.waiting ? ` +${g.waiting}` : ''}`, bar(g.load, `load ${pct(g.load)}`));
  if (g.waiting) load.title = `${g.waiting} waiting for a batch slot`;
  facts.append(fact('load', load, 'load'));
  const tok = el('dd', 'tok-s', formatRate(g.tokS));
  tok.dataset.value = g.tokS === null ? '' : String(g.tokS);
  if (g.sharedBy) tok.title = `the model's rate, shared by its ${g.sharedBy} groups`;
  facts.append(fact(g.sharedBy ? `${g.tokLabel} (model)` : g.tokLabel, tok));
  const kv = el('dd');
  kv.append(pct(g.kvUsage), bar(g.kvUsage, `KV cache ${pct(g.kvUsage)} used`));
  if (g.kvTotal) kv.title = `${g.kvUsed} of ${g.kvTotal} blocks`;
  facts.append(fact('KV cache', kv, 'kv'));
  facts.append(fact('in flight', String(g.inFlight), 'in-flight'));
  facts.append(fact('ranks (tp)', g.tp === null ? '—' : String(g.tp), 'tp'));
  facts.append(fact('steps/s', formatRate(g.stepsS)));
  facts.append(fact('restarts', g.jobExits > g.restarts ? `${g.restarts} (${g.jobExits} exits)` : String(g.restarts), 'restarts'));
  facts.append(fact('uptime', g.up ? formatDuration(g.uptimeS) : '—'));

  const charts = el('div', 'charts');
  const tokMax = Math.max(1, ...g.series.tok.map(([, v]) => v)) * 1.15;
  charts.append(
    chart('tok', g.tokLabel, g.series.tok, g.window, tokMax, ''),
    chart('kv', 'KV cache', g.series.kv.map(([t, v]) => [t, v * 100]), g.window, 100, '%'),
  );

  card.append(head, model, facts, charts);
  if (g.gpus.length) {
    const list = el('ul', 'gpu-list');
    for (const r of g.gpus) {
      const li = el('li', 'gpu');
      li.dataset.device = String(r.device);
      li.append(el('span', 'gpu-text', r.text));
      const bars = el('div', 'gpu-bars');
      for (const [label, ratio] of [['memory', r.mem], ['busy', r.util]]) {
        if (ratio === null) continue;
        const cell = el('span', 'gpu-bar', `${label} ${Math.round(ratio * 100)}%`);
        cell.append(bar(ratio, `GPU ${r.device} ${label} ${Math.round(ratio * 100)}%`));
        bars.append(cell);
      }
      if (bars.childElementCount) li.append(bars);
      list.append(li);
    }
    card.append(list);
  }
  return card;
}

export function mountClusterView(root, getConn, fetchCluster) {
  const status = root.querySelector('.cluster-status');
  const grid = root.querySelector('.cluster-groups');
  let samples = [];
  let timer = null, shown = false, request = null;

  function draw() {
    const vm = viewModel(samples);
    grid.replaceChildren(...vm.groups.map(groupCard));
    if (vm.time !== null) {
      const when = new Date(vm.time * 1000).toLocaleTimeString();
      status.textContent = `${vm.groups.length} group${vm.groups.length === 1 ? '' : 's'}, ${vm.up} up · updated ${when}`;
      status.classList.remove('error');
    }
  }

  async function poll() {
    if (!shown || document.hidden || request) return;
    request = new AbortController();
    try {
      const snap = await fetchCluster(getConn(), request.signal);
      samples = appendSample(samples, snap);
      draw();
    } catch (err) {
      if (err.kind !== 'abort') {
        status.textContent = `Could not read the cluster's state. ${err.message}`;
        status.classList.add('error');
      }
    } finally {
      request = null;
    }
  }

  const onVisibility = () => poll();
  return {
    show() {
      if (shown) return;
      shown = true;
      if (!samples.length) status.textContent = 'Loading the cluster…';
      poll();
      timer = setInterval(poll, POLL_MS);
      document.addEventListener('visibilitychange', onVisibility);
    },
    hide() {
      shown = false;
      clearInterval(timer);
      timer = null;
      if (request) request.abort();
      document.removeEventListener('visibilitychange', onVisibility);
    },
  };
}
