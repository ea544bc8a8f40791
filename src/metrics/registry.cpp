#include "metrics/registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace kiln::metrics {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

std::string label_block(const std::vector<std::string>& names, const Labels& values,
                        const std::string& extra = "") {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += fmt::format("{}{}=\"{}\"", s.empty() ? "" : ",", names[i],
                     escape_label(i < values.size() ? values[i] : ""));
  if (!extra.empty()) s += (s.empty() ? "" : ",") + extra;
  return s.empty() ? "" : "{" + s + "}";
}

}  // namespace

void Counter::inc(double by) {
  if (by < 0) return;  // counters only go up
  std::lock_guard lock(mu_);
  v_ += by;
}
double Counter::value() const {
  std::lock_guard lock(mu_);
  return v_;
}

void Gauge::set(double v) {
  std::lock_guard lock(mu_);
  v_ = v;
}
void Gauge::inc(double by) {
  std::lock_guard lock(mu_);
  v_ += by;
}
double Gauge::value() const {
  std::lock_guard lock(mu_);
  return v_;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  std::lock_guard lock(mu_);
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  ++counts_[i];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mu_);
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (uint64_t c : counts_) s.cumulative.push_back(running += c);
  s.sum = sum_;
  s.count = count_;
  return s;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> buckets)
    : name_(std::move(name)), help_(std::move(help)), type_(type),
      label_names_(std::move(label_names)), buckets_(std::move(buckets)) {}

Family::Child& Family::child(const Labels& values) {
  if (values.size() != label_names_.size())
    throw std::logic_error(fmt::format("metric {}: {} label values for {} labels", name_,
                                       values.size(), label_names_.size()));
  std::lock_guard lock(mu_);
  auto& c = children_[values];
  if (!c) {
    c = std::make_unique<Child>();
    if (type_ == Type::kHistogram) c->histogram = std::make_unique<Histogram>(buckets_);
  }
  return *c;
}

Counter& Family::counter(const Labels& v) { return child(v).counter; }
Gauge& Family::gauge(const Labels& v) { return child(v).gauge; }
Histogram& Family::histogram(const Labels& v) { return *child(v).histogram; }

void Family::write(std::string& out) const {
  static const char* kTypes[] = {"counter", "gauge", "histogram"};
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, help_, name_, kTypes[static_cast<int>(type_)]);
  std::lock_guard lock(mu_);
  for (const auto& [values, c] : children_) {
    switch (type_) {
      case Type::kCounter:
        out += fmt::format("{}{} {}\n", name_, label_block(label_names_, values), number(c->counter.value()));
        break;
      case Type::kGauge:
        out += fmt::format("{}{} {}\n", name_, label_block(label_names_, values), number(c->gauge.value()));
        break;
      case Type::kHistogram: {
        auto s = c->histogram->snapshot();
        for (size_t i = 0; i <= s.bounds.size(); ++i) {
          std::string le = i < s.bounds.size() ? number(s.bounds[i]) : "+Inf";
          out += fmt::format("{}_bucket{} {}\n", name_,
                             label_block(label_names_, values, fmt::format("le=\"{}\"", le)),
                             s.cumulative[i]);
        }
        out += fmt::format("{}_sum{} {}\n", name_, label_block(label_names_, values), number(s.sum));
        out += fmt::format("{}_count{} {}\n", name_, label_block(label_names_, values), s.count);
        break;
      }
    }
  }
}

Family& Registry::family(const std::string& name, const std::string& help, Type type,
                         std::vector<std::string> labels, std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  if (!f) f = std::make_unique<Family>(name, help, type, std::move(labels), std::move(buckets));
  return *f;
}

Family& Registry::counter(const std::string& n, const std::string& h, std::vector<std::string> l) {
  return family(n, h, Type::kCounter, std::move(l), {});
}
Family& Registry::gauge(const std::string& n, const std::string& h, std::vector<std::string> l) {
  return family(n, h, Type::kGauge, std::move(l), {});
}
Family& Registry::histogram(const std::string& n, const std::string& h, std::vector<double> b,
                            std::vector<std::string> l) {
  return family(n, h, Type::kHistogram, std::move(l), std::move(b));
}

std::string Registry::exposition() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) f->write(out);
  return out;
}

std::vector<CounterSample> Registry::counters() const {
  std::lock_guard lock(mu_);
  std::vector<CounterSample> out;
  for (const auto& [name, f] : families_) {
    if (f->type_ != Type::kCounter) continue;
    std::lock_guard family_lock(f->mu_);
    for (const auto& [values, c] : f->children_)
      if (double v = c->counter.value(); v > 0) out.push_back({name, f->help_, f->label_names_, values, v});
  }
  return out;
}

bool Registry::add(const std::vector<CounterSample>& samples) {
  bool all = true;
  for (const auto& s : samples) {
    Family& f = counter(s.name, s.help, s.label_names);
    if (f.type_ != Type::kCounter || f.label_names_ != s.label_names || s.labels.size() != s.label_names.size()) {
      all = false;
      continue;
    }
    f.counter(s.labels).inc(s.value);
  }
  return all;
}

Registry& default_registry() {
  static Registry r;
  return r;
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace kiln::metrics
