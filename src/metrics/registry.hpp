#pragma once
// Prometheus metrics: counters, gauges and histograms in labelled families, and the text
// exposition format (version 0.0.4) that /metrics serves. Thread-safe; metric objects live as
// long as their registry, so a reference taken once may be kept.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label-name order

class Counter {
 public:
  void inc(double by = 1);
  double value() const;

 private:
  mutable std::mutex mu_;
  double v_ = 0;
};

class Gauge {
 public:
  void set(double v);
  void inc(double by = 1);
  void dec(double by = 1) { inc(-by); }
  double value() const;

 private:
  mutable std::mutex mu_;
  double v_ = 0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), +Inf last
  double sum_ = 0;
  uint64_t count_ = 0;
};

enum class Type { kCounter, kGauge, kHistogram };

/// One counter's value with its family's description: what a worker process counted, handed to
/// its node so the node's /metrics shows it (a worker serves no /metrics of its own).
struct CounterSample {
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  Labels labels;
  double value = 0;
};

/// One metric name with its help text, label names and a child per label-value combination.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> buckets);
  Counter& counter(const Labels& values = {});
  Gauge& gauge(const Labels& values = {});
  Histogram& histogram(const Labels& values = {});
  void write(std::string& out) const;

 private:
  friend class Registry;
  struct Child {
    Counter counter;
    Gauge gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Child& child(const Labels& values);

  std::string name_, help_;
  Type type_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<Child>> children_;
};

class Registry {
 public:
  /// Gets or creates a family; asking again with the same name returns the same one.
  Family& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family& histogram(const std::string& name, const std::string& help, std::vector<double> buckets,
                    std::vector<std::string> labels = {});
  /// The text exposition of every family, in name order.
  std::string exposition() const;
  /// Every counter above zero, in name and label order.
  std::vector<CounterSample> counters() const;
  /// Adds each sample to the counter of its name and labels here (made if missing). A sample
  /// whose name is another type here, or whose label names differ, is skipped: false if any was.
  bool add(const std::vector<CounterSample>& samples);

 private:
  Family& family(const std::string& name, const std::string& help, Type type,
                 std::vector<std::string> labels, std::vector<double> buckets);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

/// The process's registry: what the node and coordinator serve on /metrics.
Registry& default_registry();

/// Escapes a label value for the text format (backslash, double quote, newline).
std::string escape_label(const std::string& v);

}  // namespace kiln::metrics
