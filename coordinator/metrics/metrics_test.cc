// Metrics registry tests: exact exposition text, escaping, value formatting, concurrent
// updates (exact totals), definition checks, and the coordinator's metric set.
#include "coordinator/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <thread>

#include "coordinator/metrics/server_metrics.h"

namespace shardserve::metrics {
namespace {

TEST(Metrics, RendersExactText) {
  Registry r;
  auto& requests = r.counter("test_requests_total", "Requests.", {"endpoint", "status"});
  requests.with({"/v1/chat", "429"}).inc();
  requests.with({"/v1/chat", "200"}).inc(3);
  r.gauge("test_queue_depth", "Waiting requests.").get().set(2.5);
  r.gauge("test_group_up", "Group health.", {"group"});  // no children yet: not rendered
  auto& latency = r.histogram("test_latency_seconds", "Latency.", {0.25, 0.5, 1}, {"model"});
  Histogram& h = latency.with({"m"});
  for (double v : {0.125, 0.25, 0.75, 3.0}) h.observe(v);
  r.histogram("test_tokens", "Tokens.", {1, 10}).get().observe(5);
  r.counter("test_errors_total", "Errors.");  // unlabeled: 0 from the start

  EXPECT_EQ(r.render(),
            "# HELP test_requests_total Requests.\n"
            "# TYPE test_requests_total counter\n"
            "test_requests_total{endpoint=\"/v1/chat\",status=\"200\"} 3\n"
            "test_requests_total{endpoint=\"/v1/chat\",status=\"429\"} 1\n"
            "# HELP test_queue_depth Waiting requests.\n"
            "# TYPE test_queue_depth gauge\n"
            "test_queue_depth 2.5\n"
            "# HELP test_latency_seconds Latency.\n"
            "# TYPE test_latency_seconds histogram\n"
            "test_latency_seconds_bucket{model=\"m\",le=\"0.25\"} 2\n"
            "test_latency_seconds_bucket{model=\"m\",le=\"0.5\"} 2\n"
            "test_latency_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
            "test_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
            "test_latency_seconds_sum{model=\"m\"} 4.125\n"
            "test_latency_seconds_count{model=\"m\"} 4\n"
            "# HELP test_tokens Tokens.\n"
            "# TYPE test_tokens histogram\n"
            "test_tokens_bucket{le=\"1\"} 0\n"
            "test_tokens_bucket{le=\"10\"} 1\n"
            "test_tokens_bucket{le=\"+Inf\"} 1\n"
            "test_tokens_sum 5\n"
            "test_tokens_count 1\n"
            "# HELP test_errors_total Errors.\n"
            "# TYPE test_errors_total counter\n"
            "test_errors_total 0\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escape_label_value("plain /v1 \xE4\xB8\xAD"), "plain /v1 \xE4\xB8\xAD");
  EXPECT_EQ(escape_help("x \\ \"y\"\nz"), "x \\\\ \"y\"\\nz");
  Registry r;
  r.gauge("g", "Line one\nline two \\.", {"path"}).with({"C:\\dir\n\"q\""}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP g Line one\\nline two \\\\.\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"q\\\"\"} 1\n");
}

TEST(Metrics, FormatsValues) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(1e-6), "1e-06");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  // Round trip.
  for (double v : {0.1 + 0.2, 1.0 / 3, 123456.789e-20}) {
    EXPECT_EQ(std::stod(format_value(v)), v);
  }
}

TEST(Metrics, HistogramBucketEdges) {
  Registry r;
  Histogram& h = r.histogram("h", "H.", {1, 2}).get();
  h.observe(1);  // le is inclusive
  h.observe(1.5);
  h.observe(2);
  h.observe(-5);                                        // below every bound
  h.observe(std::numeric_limits<double>::quiet_NaN());  // only +Inf
  const Histogram::Snapshot s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(Metrics, GaugeGoesUpAndDown) {
  Registry r;
  Gauge& g = r.gauge("g", "G.").get();
  g.add(3);
  g.sub(1.5);
  EXPECT_EQ(g.value(), 1.5);
  g.set(-1);
  EXPECT_EQ(g.value(), -1);
}

TEST(Metrics, ChildrenListsWhatWasMadeSortedAndMakesNothing) {
  Registry r;
  CounterFamily& c = r.counter("c_total", "C.", {"group", "reason"});
  EXPECT_TRUE(c.children().empty());
  c.with({"b", "x"}).inc(2);
  c.with({"a", "y"}).inc();
  const auto children = c.children();
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].first, (std::vector<std::string>{"a", "y"}));
  EXPECT_EQ(children[0].second->value(), 1u);
  EXPECT_EQ(children[1].first, (std::vector<std::string>{"b", "x"}));
  EXPECT_EQ(children[1].second->value(), 2u);
  EXPECT_EQ(children[1].second, &c.with({"b", "x"}));
  EXPECT_EQ(c.children().size(), 2u);  // a snapshot makes no child
}

TEST(Metrics, ReRegisteringReturnsTheSameFamily) {
  Registry r;
  CounterFamily& a = r.counter("c_total", "C.", {"x"});
  CounterFamily& b = r.counter("c_total", "C.", {"x"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.with({"1"}), &b.with({"1"}));
  HistogramFamily& h1 = r.histogram("h", "H.", {1, 2});
  HistogramFamily& h2 = r.histogram("h", "H.", {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.counter("c_total", "C.");
        r.gauge("c_total", "C.");
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry r;
        r.counter("c_total", "C.", {"a"});
        r.counter("c_total", "C.", {"b"});
      },
      "registered twice");
  EXPECT_DEATH(Registry().counter("1bad", "x"), "invalid metric name");
  EXPECT_DEATH(Registry().counter("bad-name", "x"), "invalid metric name");
  EXPECT_DEATH(Registry().counter("ok", "x", {"__reserved"}), "invalid label name");
  EXPECT_DEATH(Registry().counter("ok", "x", {"a", "a"}), "duplicate label name");
  EXPECT_DEATH(Registry().histogram("h", "x", {1}, {"le"}), "'le'");
  EXPECT_DEATH(Registry().histogram("h", "x", {2, 1}), "increase");
  EXPECT_DEATH(Registry().histogram("h", "x", {1, std::numeric_limits<double>::infinity()}),
               "finite");
  EXPECT_DEATH(
      {
        Registry r;
        r.counter("c_total", "C.", {"a", "b"}).with({"only one"});
      },
      "wrong number of label values");
  EXPECT_DEATH(
      {
        Registry r;
        r.counter("c_total", "C.", {"a"}).get();
      },
      "use with");
}

TEST(Metrics, ConcurrentUpdatesAreExact) {
  Registry r;
  CounterFamily& requests = r.counter("req_total", "R.", {"endpoint", "status"});
  Gauge& depth = r.gauge("depth", "D.").get();
  HistogramFamily& lat = r.histogram("lat", "L.", {0.5, 1, 2}, {"model"});
  constexpr int kThreads = 8;
  constexpr int kIters = 20000;
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) {
      const std::string text = r.render();
      ASSERT_NE(text.find("# TYPE depth gauge\ndepth "), std::string::npos);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = requests.with({"/v1/chat", "200"});
      Histogram& h = lat.with({t % 2 ? "a" : "b"});
      for (int i = 0; i < kIters; ++i) {
        mine.inc();
        // Looking children up concurrently (and creating new ones) is safe too.
        requests.with({"/v1/embeddings", std::to_string(i % 3)}).inc(2);
        depth.add(1);
        depth.sub(1);
        h.observe(i % 4 * 0.5);  // 0, 0.5, 1, 1.5: exact sums
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();

  EXPECT_EQ(requests.with({"/v1/chat", "200"}).value(), uint64_t{kThreads} * kIters);
  uint64_t embeddings = 0;
  for (int s = 0; s < 3; ++s)
    embeddings += requests.with({"/v1/embeddings", std::to_string(s)}).value();
  EXPECT_EQ(embeddings, uint64_t{2} * kThreads * kIters);
  EXPECT_EQ(depth.value(), 0);
  for (const char* m : {"a", "b"}) {
    const Histogram::Snapshot s = lat.with({m}).snapshot();
    const uint64_t n = uint64_t{kThreads / 2} * kIters;
    EXPECT_EQ(s.count, n);
    EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{n / 2, n * 3 / 4, n, n}));
    EXPECT_EQ(s.sum, static_cast<double>(n / 4) * 3.0);
  }
}

// A minimal reader of the exposition grammar (no std::regex: GCC 12 warns inside it under
// sanitizers). Every line is `# HELP name text`, `# TYPE name counter|gauge|histogram` or a
// sample `name{label="value",...} number`.
bool read_name(std::string_view s, size_t& pos, bool metric) {
  const size_t start = pos;
  while (pos < s.size()) {
    const char c = s[pos];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (metric && c == ':') || (pos > start && c >= '0' && c <= '9');
    if (!ok) break;
    ++pos;
  }
  return pos > start;
}

bool read_number(std::string_view s) {
  if (s == "NaN" || s == "+Inf" || s == "-Inf") return true;
  if (s.empty()) return false;
  const std::string str(s);
  char* end = nullptr;
  std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size();
}

bool well_formed_line(std::string_view line) {
  size_t pos = 0;
  if (line.starts_with("# HELP ")) {
    pos = 7;
    return read_name(line, pos, true) && pos < line.size() && line[pos] == ' ';
  }
  if (line.starts_with("# TYPE ")) {
    pos = 7;
    if (!read_name(line, pos, true)) return false;
    const std::string_view type = line.substr(pos);
    return type == " counter" || type == " gauge" || type == " histogram";
  }
  if (!read_name(line, pos, true)) return false;
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    for (bool first = true;; first = false) {
      if (!first) {
        if (pos < line.size() && line[pos] == '}') break;
        if (pos >= line.size() || line[pos++] != ',') return false;
      }
      if (!read_name(line, pos, false)) return false;
      if (line.substr(pos, 2) != "=\"") return false;
      pos += 2;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          if (pos + 1 >= line.size() ||
              std::string_view("\\\"n").find(line[pos + 1]) == std::string_view::npos) {
            return false;
          }
          ++pos;
        }
        ++pos;
      }
      if (pos++ >= line.size()) return false;  // the closing quote
    }
    ++pos;  // '}'
  }
  if (pos >= line.size() || line[pos++] != ' ') return false;
  return read_number(line.substr(pos));
}

void expect_well_formed(const std::string& text) {
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) EXPECT_TRUE(well_formed_line(line)) << line;
}

TEST(Metrics, TheGrammarCheckRejectsBadLines) {
  EXPECT_TRUE(well_formed_line("a_b:c{x=\"1\",y=\"q\\\"\\\\\\n\"} -1.5e-3"));
  EXPECT_TRUE(well_formed_line("a NaN"));
  EXPECT_FALSE(well_formed_line("a{x=\"1\"}"));
  EXPECT_FALSE(well_formed_line("a{x=\"1} 1"));
  EXPECT_FALSE(well_formed_line("a{x=\"\\t\"} 1"));
  EXPECT_FALSE(well_formed_line("a{1x=\"1\"} 1"));
  EXPECT_FALSE(well_formed_line("a 1x"));
  EXPECT_FALSE(well_formed_line("# TYPE a summary"));
}

TEST(Metrics, ServerMetricsRenderWellFormed) {
  Registry r;
  ServerMetrics m(r);
  m.requests.with({"/v1/chat/completions", "200"}).inc();
  m.prompt_tokens.with({"smollm2"}).inc(12);
  m.generation_tokens.with({"smollm2"}).inc(30);
  m.queue_depth.get().set(3);
  m.group_running_sequences.with({"g0"}).set(4);
  m.group_kv_cache_usage.with({"g0"}).set(0.375);
  m.group_up.with({"g0"}).set(1);
  m.group_up.with({"g1"}).set(0);
  m.time_to_first_token.with({"smollm2"}).observe(0.042);
  m.inter_token_latency.with({"smollm2"}).observe(0.004);
  m.request_duration.with({"smollm2"}).observe(1.2);
  m.request_prompt_tokens.with({"smollm2"}).observe(12);
  m.request_generation_tokens.with({"smollm2"}).observe(30);
  const std::string text = r.render();
  expect_well_formed(text);
  EXPECT_NE(text.find("shardserve_group_kv_cache_usage_ratio{group=\"g0\"} 0.375\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("shardserve_request_generation_tokens_bucket{model=\"smollm2\",le=\"50\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("shardserve_time_to_first_token_seconds_count{model=\"smollm2\"} 1\n"),
            std::string::npos);
  // A second ServerMetrics on the same registry shares the families.
  ServerMetrics again(r);
  EXPECT_EQ(&again.requests, &m.requests);
}

}  // namespace
}  // namespace shardserve::metrics
