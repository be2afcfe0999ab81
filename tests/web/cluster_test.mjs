// web/js/cluster.js without a browser (node): the shardserve_gpu_* samples of a /metrics text
// become one entry per group and device, absent figures stay absent, other lines are ignored.
//   node tests/web/cluster_test.mjs
import assert from 'node:assert/strict';
import { describeGpu, parseGpuMetrics } from '../../web/js/cluster.js';

const text = `# HELP shardserve_group_up Whether the group is live.
shardserve_group_up{group="chat"} 1
# TYPE shardserve_gpu_memory_used_bytes gauge
shardserve_gpu_memory_used_bytes{group="chat",device="1",name="NVIDIA H200"} 1073741824
shardserve_gpu_memory_used_bytes{group="chat",device="0",name="NVIDIA \\"X\\""} 0
shardserve_gpu_memory_total_bytes{group="chat",device="1",name="NVIDIA H200"} 151397597184
shardserve_gpu_utilization_ratio{group="chat",device="1",name="NVIDIA H200"} 0.75
shardserve_gpu_temperature_celsius{group="chat",device="1",name="NVIDIA H200"} 61
shardserve_gpu_power_watts{group="chat",device="1",name="NVIDIA H200"} 312.5
shardserve_gpu_power_limit_watts{group="chat",device="1",name="NVIDIA H200"} 700
shardserve_gpu_temperature_celsius{group="a-first",device="3",name=""} 40
`;
const gpus = parseGpuMetrics(text);
assert.deepEqual(gpus.map((g) => [g.group, g.device]), [['a-first', 3], ['chat', 0], ['chat', 1]]);
assert.equal(gpus[1].name, 'NVIDIA "X"');
assert.equal(gpus[1].memUsed, 0);
assert.equal(gpus[1].power, undefined);
assert.equal(describeGpu(gpus[2]), 'chat · GPU 1 · 1.0/141.0 GiB · 75% · 61 °C · 313/700 W');
assert.equal(describeGpu(gpus[0]), 'a-first · GPU 3 · 40 °C');
assert.deepEqual(parseGpuMetrics('shardserve_group_up{group="chat"} 1\n'), []);
console.log('cluster.js: ok');
