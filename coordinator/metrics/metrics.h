// A small Prometheus metrics registry: counters, gauges and fixed-bucket histograms, each a
// family with zero or more labels, rendered in the text exposition format 0.0.4.
//
//   metrics::Registry registry;
//   auto& requests = registry.counter("shardserve_requests_total", "Requests served.",
//                                     {"endpoint", "status"});
//   metrics::Counter& ok = requests.with({"/v1/chat/completions", "200"});  // look up once
//   ok.inc();                                                                // then lock-free
//   std::string body = registry.render();  // serve with Content-Type kContentType
//
// Thread-safety: everything is safe to call from any thread. Updating a child (inc, set,
// observe) is a few relaxed atomic operations and takes no lock. Looking up a child by label
// values (`with`) takes the family's mutex and allocates the key: do it once per request or
// group, not per token. Registering a family and render() take the registry's mutex.
//
// Ownership: the Registry owns its families and their children; references returned by
// counter()/gauge()/histogram() and by with()/get() stay valid as long as the Registry.
// Children are never removed (a group that leaves keeps its last values; set its health 0).
//
// Programming errors abort through SS_CHECK: an invalid metric or label name, the wrong
// number of label values, re-registering a name with a different type, help, labels or
// buckets, unsorted or non-finite buckets. Label values may be any UTF-8 text.
//
// Consistency of render(): each value is read atomically, but a scrape that races with
// updates may see a histogram's _sum without an observation its buckets already count (or
// the reverse). _count always equals the +Inf bucket, and every bucket is cumulative.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shardserve::metrics {

// The Content-Type of render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// A count of events: only goes up.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (queue depth, KV-cache use, health 0/1).
class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void sub(double d) { value_.fetch_add(-d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed buckets: bucket i counts values <= bounds[i]; the implicit
// last bucket (+Inf) counts everything, NaN included.
class Histogram {
 public:
  // `bounds` must outlive the histogram (its family owns them).
  explicit Histogram(std::span<const double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // [bounds + 1]: observations <= bound, last is +Inf
    double sum = 0;
    uint64_t count = 0;  // == cumulative.back()
  };
  Snapshot snapshot() const;
  std::span<const double> bounds() const { return bounds_; }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // [bounds + 1], per bucket, not cumulative
  std::atomic<double> sum_{0.0};
};

enum class Type { kCounter, kGauge, kHistogram };

// What every family shares; see Family<T> for the typed part.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  Type type() const { return type_; }
  const std::vector<double>& buckets() const { return buckets_; }  // histograms only
  // Appends this family's HELP, TYPE and sample lines (nothing if it has no children yet).
  virtual void render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type,
             std::vector<double> buckets);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const Type type_;
  const std::vector<double> buckets_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, Type type,
         std::vector<double> buckets = {});

  // The child for these label values, in the order of label_names(); created on first use.
  T& with(std::initializer_list<std::string_view> values);
  T& with(std::span<const std::string> values);
  // The only child of a family without labels (created with the family, so it renders 0).
  T& get();
  // Every child made so far with its label values, sorted by them (a snapshot: children made
  // later are not in it). The pointers stay valid as long as the family.
  std::vector<std::pair<std::vector<std::string>, const T*>> children() const;

  void render(std::string& out) const override;

 private:
  T& child(std::vector<std::string> key);

  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the one registered under `name` with the same type, help,
  // labels (and buckets). Names: [a-zA-Z_:][a-zA-Z0-9_:]*; labels: [a-zA-Z_][a-zA-Z0-9_]*,
  // not starting with "__", no duplicates, and "le" not on histograms. Histogram buckets:
  // finite, strictly increasing upper bounds; +Inf is added.
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> labels = {});
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> labels = {});
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<double> buckets, std::vector<std::string> labels = {});

  // Every family in registration order, children sorted by label values: text format 0.0.4.
  std::string render() const;

 private:
  template <typename F>
  F& add(std::string_view name, std::string_view help, std::vector<std::string> labels, Type type,
         std::vector<double> buckets);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_;  // guarded by mu_
};

// Formatting helpers, exposed for tests and for other exporters.
// A sample value: shortest round-trip decimal ("0.25", "1e-06", "3"), "NaN", "+Inf", "-Inf".
std::string format_value(double v);
// A label value inside double quotes: \ -> \\, " -> \", newline -> \n.
std::string escape_label_value(std::string_view v);
// HELP text: \ -> \\, newline -> \n.
std::string escape_help(std::string_view v);

}  // namespace shardserve::metrics
