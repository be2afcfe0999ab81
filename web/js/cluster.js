// cluster.js — a compact "GPUs" line in the top bar: the cluster's GPUs as the coordinator's
// GET /metrics reports them (shardserve_gpu_* gauges, one sample per group and device).
//
// Promises:
//   - parseGpuMetrics(text) returns one entry per (group, device) found in Prometheus text:
//     {group, device, name, memUsed, memTotal, util, temp, power, powerLimit}, a figure the
//     server did not report left undefined; entries sorted by group, then device;
//   - describeGpu(g) is the one-line text of an entry ("chat · GPU 0 · 12.3/80.0 GiB · 75% ·
//     61 °C · 312/700 W"), leaving out figures that are undefined;
//   - watchCluster(el, getConn, fetchMetrics) fills the <details> `el` and refreshes it every
//     10 s while the page is visible; `el` stays hidden while no GPU is reported (cpu-only
//     clusters, an unreachable /metrics), so the page looks as before.
// A fuller cluster dashboard is another page's job; this stays one line and a small list.

const GIB = 1024 ** 3;
const FIELDS = {
  shardserve_gpu_memory_used_bytes: 'memUsed',
  shardserve_gpu_memory_total_bytes: 'memTotal',
  shardserve_gpu_utilization_ratio: 'util',
  shardserve_gpu_temperature_celsius: 'temp',
  shardserve_gpu_power_watts: 'power',
  shardserve_gpu_power_limit_watts: 'powerLimit',
};
const SAMPLE = /^([a-z_:]+)\{(.*)\}\s+(\S+)$/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

export function parseGpuMetrics(text) {
  const byKey = new Map();
  for (const line of String(text).split('\n')) {
    const m = SAMPLE.exec(line.trim());
    if (!m || !(m[1] in FIELDS)) continue;
    const labels = {};
    for (const [, k, v] of m[2].matchAll(LABEL)) labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    const key = `${labels.group}\u0000${labels.device}`;
    if (!byKey.has(key)) {
      byKey.set(key, { group: labels.group || '', device: Number(labels.device), name: labels.name || '' });
    }
    const value = Number(m[3]);
    if (Number.isFinite(value)) byKey.get(key)[FIELDS[m[1]]] = value;
  }
  return [...byKey.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.device - b.device));
}

export function describeGpu(g) {
  const parts = [`${g.group} · GPU ${g.device}`];
  if (g.memUsed !== undefined && g.memTotal !== undefined)
    parts.push(`${(g.memUsed / GIB).toFixed(1)}/${(g.memTotal / GIB).toFixed(1)} GiB`);
  if (g.util !== undefined) parts.push(`${Math.round(g.util * 100)}%`);
  if (g.temp !== undefined) parts.push(`${Math.round(g.temp)} °C`);
  if (g.power !== undefined)
    parts.push(g.powerLimit !== undefined ? `${Math.round(g.power)}/${Math.round(g.powerLimit)} W` : `${Math.round(g.power)} W`);
  return parts.join(' · ');
}

export function watchCluster(el, getConn, fetchMetrics) {
  const summary = el.querySelector('summary');
  const list = el.querySelector('ul');
  async function refresh() {
    if (document.hidden) return;
    let gpus = [];
    try {
      gpus = parseGpuMetrics(await fetchMetrics(getConn()));
    } catch {
      gpus = []; // no /metrics here (or not allowed): nothing to show
    }
    el.hidden = gpus.length === 0;
    if (!gpus.length) return;
    const busy = gpus.filter((g) => g.util !== undefined);
    const mean = busy.length ? busy.reduce((s, g) => s + g.util, 0) / busy.length : undefined;
    summary.textContent = `${gpus.length} GPU${gpus.length > 1 ? 's' : ''}` +
      (mean !== undefined ? ` · ${Math.round(mean * 100)}%` : '');
    list.replaceChildren(...gpus.map((g) => {
      const li = document.createElement('li');
      li.textContent = describeGpu(g);
      if (g.name) li.title = g.name;
      return li;
    }));
  }
  refresh();
  const timer = setInterval(refresh, 10000);
  document.addEventListener('visibilitychange', refresh);
  return () => clearInterval(timer);
}
