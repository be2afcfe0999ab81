// Prints a sample exposition (the coordinator's metric set with values, plus escaping edge
// cases) for metrics_format_test.py, which checks it with the reference Python parser.
#include <cstdio>
#include <limits>

#include "coordinator/metrics/metrics.h"
#include "coordinator/metrics/server_metrics.h"

int main() {
  using namespace shardserve::metrics;
  Registry r;
  ServerMetrics m(r);
  m.requests.with({"/v1/chat/completions", "200"}).inc(7);
  m.requests.with({"/v1/chat/completions", "429"}).inc(2);
  m.queue_depth.get().set(3);
  m.group_kv_cache_usage.with({"g0"}).set(0.375);
  m.group_up.with({"g0"}).set(1);
  for (double v : {0.004, 0.02, 0.3, 100.0}) m.time_to_first_token.with({"smollm2"}).observe(v);
  m.request_generation_tokens.with({"smollm2"}).observe(30);
  r.gauge("sample_escapes", "Help with \\ backslash\nand newline.", {"value"})
      .with({"quote \" backslash \\ newline \n end"})
      .set(-1.5);
  r.gauge("sample_special", "Special values.", {"kind"})
      .with({"nan"})
      .set(std::numeric_limits<double>::quiet_NaN());
  r.gauge("sample_special", "Special values.", {"kind"})
      .with({"inf"})
      .set(std::numeric_limits<double>::infinity());
  std::fputs(r.render().c_str(), stdout);
  return 0;
}
