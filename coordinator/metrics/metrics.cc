// Prometheus registry and text exposition format 0.0.4 (see metrics.h).
#include "coordinator/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <type_traits>
#include <utility>

#include "base/check.h"

namespace shardserve::metrics {

namespace {

bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

void check_labels(const std::vector<std::string>& labels, Type type) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    SS_CHECK(valid_name(l, false) && l.rfind("__", 0) != 0, "invalid label name");
    SS_CHECK(!(type == Type::kHistogram && l == "le"), "histograms cannot have a label 'le'");
    for (size_t j = 0; j < i; ++j) SS_CHECK(labels[j] != l, "duplicate label name");
  }
}

// `{a="x",b="y"` without the closing brace (so a histogram can add le), or "" for no labels.
std::string open_labels(const std::vector<std::string>& names,
                        const std::vector<std::string>& values) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    s += i == 0 ? '{' : ',';
    s += names[i];
    s += "=\"";
    s += escape_label_value(values[i]);
    s += '"';
  }
  return s;
}

std::string close_labels(const std::string& open) {
  return open.empty() ? std::string() : open + "}";
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  SS_CHECK(ec == std::errc());
  return std::string(buf, end);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// --- Histogram ----------------------------------------------------------------------------

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  // The first bound >= v; NaN is >= no bound and lands in +Inf.
  const size_t i = std::isnan(v)
                       ? bounds_.size()
                       : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                             bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// --- Families -----------------------------------------------------------------------------

FamilyBase::FamilyBase(std::string name, std::string help, std::vector<std::string> label_names,
                       Type type, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      type_(type),
      buckets_(std::move(buckets)) {}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  Type type, std::vector<double> buckets)
    : FamilyBase(std::move(name), std::move(help), std::move(label_names), type,
                 std::move(buckets)) {
  if (label_names_.empty()) child({});
}

template <typename T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  return child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename T>
T& Family<T>::with(std::span<const std::string> values) {
  return child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename T>
T& Family<T>::get() {
  SS_CHECK(label_names_.empty(), "get() on a family with labels: use with()");
  return child({});
}

template <typename T>
T& Family<T>::child(std::vector<std::string> key) {
  SS_CHECK(key.size() == label_names_.size(), "wrong number of label values");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::unique_ptr<T> c;
    if constexpr (std::is_same_v<T, Histogram>) {
      c = std::make_unique<Histogram>(std::span<const double>(buckets_));
    } else {
      c = std::make_unique<T>();
    }
    it = children_.emplace(std::move(key), std::move(c)).first;
  }
  return *it->second;
}

template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> Family<T>::children() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  out.reserve(children_.size());
  for (const auto& [values, c] : children_) out.emplace_back(values, c.get());
  return out;
}

template <typename T>
void Family<T>::render(std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (children_.empty()) return;
  out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
  out += "# TYPE " + name_ + " " + type_name(type_) + "\n";
  for (const auto& [values, c] : children_) {
    const std::string labels = open_labels(label_names_, values);
    if constexpr (std::is_same_v<T, Counter>) {
      out += name_ + close_labels(labels) + " " + std::to_string(c->value()) + "\n";
    } else if constexpr (std::is_same_v<T, Gauge>) {
      out += name_ + close_labels(labels) + " " + format_value(c->value()) + "\n";
    } else {
      const Histogram::Snapshot s = c->snapshot();
      const std::string le_open = labels.empty() ? "{le=\"" : labels + ",le=\"";
      for (size_t i = 0; i <= buckets_.size(); ++i) {
        const std::string le = i < buckets_.size() ? format_value(buckets_[i]) : "+Inf";
        out += name_ + "_bucket" + le_open + le + "\"} " + std::to_string(s.cumulative[i]) + "\n";
      }
      out += name_ + "_sum" + close_labels(labels) + " " + format_value(s.sum) + "\n";
      out += name_ + "_count" + close_labels(labels) + " " + std::to_string(s.count) + "\n";
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Registry -----------------------------------------------------------------------------

template <typename F>
F& Registry::add(std::string_view name, std::string_view help, std::vector<std::string> labels,
                 Type type, std::vector<double> buckets) {
  SS_CHECK(valid_name(name, true), "invalid metric name");
  check_labels(labels, type);
  if (type == Type::kHistogram) {
    for (size_t i = 0; i < buckets.size(); ++i) {
      SS_CHECK(std::isfinite(buckets[i]), "histogram buckets must be finite (+Inf is implicit)");
      SS_CHECK(i == 0 || buckets[i - 1] < buckets[i], "histogram buckets must increase");
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) {
    if (f->name() != name) continue;
    SS_CHECK(f->type() == type && f->help() == help && f->label_names() == labels &&
                 f->buckets() == buckets,
             "metric registered twice with different definitions");
    return static_cast<F&>(*f);
  }
  auto f = std::make_unique<F>(std::string(name), std::string(help), std::move(labels), type,
                               std::move(buckets));
  F& ref = *f;
  families_.push_back(std::move(f));
  return ref;
}

CounterFamily& Registry::counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> labels) {
  return add<CounterFamily>(name, help, std::move(labels), Type::kCounter, {});
}

GaugeFamily& Registry::gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> labels) {
  return add<GaugeFamily>(name, help, std::move(labels), Type::kGauge, {});
}

HistogramFamily& Registry::histogram(std::string_view name, std::string_view help,
                                     std::vector<double> buckets, std::vector<std::string> labels) {
  return add<HistogramFamily>(name, help, std::move(labels), Type::kHistogram, std::move(buckets));
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& f : families_) f->render(out);
  return out;
}

}  // namespace shardserve::metrics
