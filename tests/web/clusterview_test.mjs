// web/js/clusterview.js without a browser (node): answers of GET /v1/cluster (the shape of
// coordinator/serving/cluster_endpoint.h, GPUs included, which the browser test's CPU cluster
// cannot show) become the cards' view model; rates come from counter deltas; charts' paths.
//   node tests/web/clusterview_test.mjs
import assert from 'node:assert/strict';
import {
  appendSample, chartPath, counterRate, formatDuration, formatRate, gpuLine, viewModel,
} from '../../web/js/clusterview.js';

const GIB = 1024 ** 3;

// One answer of /v1/cluster at `time`, with the chat model's counter at `generated`.
function snap(time, generated, { steps = time * 10, kvUsed = 256, up = true } = {}) {
  return {
    object: 'cluster',
    time,
    groups: [
      {
        name: 'chat-tp2', up, model: 'smol', tp: 2, max_batch: 32, context_length: 8192,
        running: up ? 8 : 0, waiting: 2, in_flight: 10, kv_used_blocks: kvUsed,
        kv_total_blocks: 1024, kv_usage: kvUsed / 1024, kv_cached_blocks: 0,
        steps_total: steps, prompt_tokens_total: 0, prefix_hit_tokens_total: 0,
        uptime_s: up ? 3725 : null, last_seen_s: 0.3, restarts: 1, job_exits: 2,
        gpus: [
          {
            device: 0, name: 'NVIDIA H200', memory_used_bytes: 35 * GIB,
            memory_total_bytes: 140 * GIB, utilization: 0.75, memory_utilization: 0.25,
            temperature_celsius: 61.4, power_watts: 312.5, power_limit_watts: 700,
          },
          { device: 1, name: '', temperature_celsius: 35 },
        ],
      },
      {
        name: 'mini', up: true, model: 'minilm', tp: 1, max_batch: 64, running: 0, waiting: 0,
        in_flight: 0, kv_used_blocks: 0, kv_total_blocks: 0, kv_usage: 0, steps_total: 3,
        uptime_s: 12, restarts: 0, job_exits: 0, gpus: [],
      },
      { name: 'never', up: false, model: null, tp: null, max_batch: null, running: 0, gpus: [] },
    ],
    models: [
      { name: 'smol', task: 'chat', groups_up: up ? 1 : 0, prompt_tokens_total: 50, generation_tokens_total: generated },
      { name: 'minilm', task: 'embed', groups_up: 1, prompt_tokens_total: time * 4, generation_tokens_total: 0 },
    ],
  };
}

// appendSample: keeps the window; what is newer than the new answer goes.
let samples = [];
for (const t of [100, 102, 104, 103, 230]) samples = appendSample(samples, snap(t, 0));
assert.deepEqual(samples.map((s) => s.time), [230]); // 100..104 are older than 120 s before 230
samples = [];
for (const t of [100, 102, 104]) samples = appendSample(samples, snap(t, 0));
samples = appendSample(samples, snap(103, 0)); // the server's clock went back: 104 goes
assert.deepEqual(samples.map((s) => s.time), [100, 102, 103]);
assert.equal(appendSample([], { groups: [] }).length, 0); // no time: not a sample

// counterRate: a delta per second; a counter that went down restarted from zero.
const pick = (s) => s.v;
assert.equal(counterRate({ time: 10, v: 100 }, { time: 12, v: 140 }, pick), 20);
assert.equal(counterRate({ time: 10, v: 100 }, { time: 12, v: 30 }, pick), 15);
assert.equal(counterRate({ time: 10, v: 1 }, { time: 10, v: 2 }, pick), null);
assert.equal(counterRate(null, { time: 10, v: 2 }, pick), null);
assert.equal(counterRate({ time: 1 }, { time: 2, v: 2 }, pick), null);

// viewModel: 7 answers 2 s apart; the chat model generated 40 tokens between each.
samples = [];
for (let i = 0; i <= 6; i++) samples = appendSample(samples, snap(1000 + 2 * i, 40 * i, { kvUsed: 100 * i }));
const vm = viewModel(samples);
assert.equal(vm.time, 1012);
assert.equal(vm.up, 2);
assert.deepEqual(vm.groups.map((g) => g.name), ['chat-tp2', 'mini', 'never']);
const chat = vm.groups[0];
assert.equal(chat.up, true);
assert.equal(chat.tp, 2);
assert.equal(chat.maxBatch, 32);
assert.equal(chat.load, 8 / 32);
assert.equal(chat.inFlight, 10);
assert.equal(chat.kvUsage, 600 / 1024);
assert.equal(chat.tokS, 20); // (240 - 40) tokens over the last 10 s
assert.equal(chat.tokLabel, 'tokens/s');
assert.equal(chat.sharedBy, 0);
assert.equal(chat.stepsS, 10);
assert.equal(chat.restarts, 1);
assert.equal(chat.jobExits, 2);
assert.equal(chat.series.tok.length, 6); // a rate needs two answers
assert.deepEqual(chat.series.tok[0], [1002, 20]);
assert.equal(chat.series.kv.length, 7);
assert.deepEqual(chat.series.kv[6], [1012, 600 / 1024]);
assert.deepEqual(chat.window, [1012 - 20, 1012]); // 12 s of samples: the shortest span, 20 s
const long = [];
for (let t = 0; t <= 300; t += 50) long.push(snap(t, 0));
assert.deepEqual(viewModel(long.slice(4)).groups[0].window, [200, 300]); // 100 s: the samples' span
assert.deepEqual(viewModel(long).groups[0].window, [180, 300]); // at most the window
assert.deepEqual(chat.gpus.map((g) => g.text), [
  'GPU 0 · NVIDIA H200 · 35.0/140.0 GiB · 75% busy · 61 °C · 313/700 W',
  'GPU 1 · 35 °C',
]);
assert.equal(chat.gpus[0].mem, 0.25);
assert.equal(chat.gpus[0].util, 0.75);
assert.equal(chat.gpus[1].mem, null);
const mini = vm.groups[1];
assert.equal(mini.tokLabel, 'input tokens/s'); // an embedding model: its input tokens
assert.equal(mini.tokS, 4);
assert.deepEqual(mini.gpus, []);
const never = vm.groups[2];
assert.equal(never.up, false);
assert.equal(never.model, null);
assert.equal(never.tp, null);
assert.equal(never.tokS, null);
assert.equal(never.load, 0);

// One answer: nothing to compute a rate from yet. None: an empty view.
const first = viewModel([snap(5, 10)]).groups[0];
assert.equal(first.tokS, null);
assert.equal(first.series.tok.length, 0);
assert.deepEqual(viewModel([]), { time: null, groups: [], up: 0 });

// A group that went down: no load, no rate, its KV use charted as 0.
const down = viewModel([snap(10, 0), snap(12, 0, { up: false })]).groups[0];
assert.equal(down.up, false);
assert.equal(down.load, 0);
assert.equal(down.tokS, null);
assert.deepEqual(down.series.kv.map(([, v]) => v), [0.25, 0]);
assert.equal(down.series.tok.length, 0); // the model's tokens are not a down group's

// Two groups of one model share its rate, and the card says so.
const shared = snap(20, 100);
shared.models[0].groups_up = 2;
assert.equal(viewModel([snap(18, 0), shared]).groups[0].sharedBy, 2);

// chartPath: time across, value up; clamped; a gap over 6 s starts a new run.
const box = { width: 100, height: 10, t0: 0, t1: 100, yMax: 50 };
assert.equal(chartPath([[0, 0], [4, 25], [8, 50]], box), 'M0.0,10.0L4.0,5.0L8.0,0.0');
assert.equal(chartPath([[0, 0], [20, 80], [24, 10]], box), 'M0.0,10.0L0.0,10.0M20.0,0.0L24.0,8.0');
assert.equal(chartPath([[-5, -1]], box), 'M0.0,10.0L0.0,10.0'); // a lone point: a dot
assert.equal(chartPath([], box), '');
assert.equal(chartPath([[1, 1]], { ...box, t1: 0 }), '');
assert.equal(chartPath([[0, 3]], { ...box, yMax: 0 }), 'M0.0,0.0L0.0,0.0'); // yMax 0: scaled to 1
assert.equal(chartPath([[0, 1], [10, 1], [20, 1]], box), 'M0.0,9.8L0.0,9.8M10.0,9.8L10.0,9.8M20.0,9.8L20.0,9.8');

// Text.
assert.equal(gpuLine({ device: 2, name: 'X', power_watts: 99.6 }), 'GPU 2 · X · 100 W');
assert.equal(formatDuration(45), '45 s');
assert.equal(formatDuration(200), '3 min 20 s');
assert.equal(formatDuration(3725), '1 h 02 min');
assert.equal(formatDuration(90061), '1 d 1 h');
assert.equal(formatDuration(null), '—');
assert.equal(formatRate(null), '—');
assert.equal(formatRate(12.345), '12.3');
assert.equal(formatRate(123.4), '123');
console.log('clusterview.js: ok');
