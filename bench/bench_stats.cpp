#include "bench_stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace kiln::bench {

Summary summarize(std::vector<double> xs) {
  if (xs.empty()) return {};
  std::sort(xs.begin(), xs.end());
  size_t n = xs.size();
  double median = n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
  return {median, xs.front(), xs.back()};
}

double aggregate_fps(const Run& r) { return r.wall > 0 ? r.frames * r.concurrency / r.wall : 0; }
double per_job_speed(const Run& r) { return r.wall > 0 ? r.media_seconds / r.wall : 0; }
double cpu_per_frame(const Run& r) {
  int64_t frames = r.frames * r.concurrency;
  return frames > 0 ? r.cpu / frames : 0;
}

bool sweep_should_stop(const std::vector<SweepPoint>& points, double min_gain) {
  if (points.empty()) return false;
  const auto& last = points.back();
  if (last.per_job_speed < 1.0) return true;
  if (points.size() < 2) return false;
  double best_before = 0;
  for (size_t i = 0; i + 1 < points.size(); ++i) best_before = std::max(best_before, points[i].aggregate_fps);
  return last.aggregate_fps < best_before * min_gain;
}

int density(const std::vector<SweepPoint>& points) {
  int best = 0;
  for (const auto& p : points)
    if (p.per_job_speed >= 1.0) best = std::max(best, p.concurrency);
  return best;
}

int measured_sessions(const DeviceDensity& d) {
  int sessions = std::max(d.density, 1) * std::max(d.renditions, 1);
  return d.session_limit > 0 ? std::min(sessions, d.session_limit) : sessions;
}

double placed_efficiency(const std::vector<PlacedPoint>& points, const std::vector<double>& single_fps) {
  double sum = 0;
  for (double f : single_fps) sum += f;
  if (points.empty() || sum <= 0) return 0;
  const PlacedPoint* at = nullptr;
  for (const auto& p : points)
    if (p.slowest_job_speed >= 1.0 && (!at || p.offered - p.refused > at->offered - at->refused)) at = &p;
  if (!at)
    for (const auto& p : points)
      if (!at || p.offered - p.refused > at->offered - at->refused) at = &p;
  return at->aggregate_fps / sum;
}

std::string recommend_snippet(const std::vector<DeviceDensity>& devices) {
  std::string out = "# From kiln bench: the most concurrent jobs each device ran at real time or faster,\n"
                    "# and the output pixels/s it sustained (capacity). The same figures are in the\n"
                    "# capacity file this run wrote; a node reads that from [node] capacity_file.\n";
  for (const auto& d : devices) {
    if (d.backend == "software") {
      out += fmt::format("[node]\nsoftware_slots = {}\n", std::max(d.density, 0));
      if (d.density == 0) out += "# (no job ran at real time in software: 0 keeps jobs off the CPU)\n";
    } else {
      out += fmt::format("\n[[device]]\nmatch = {{ {} = \"{}\", backend = \"{}\" }}\nmax_sessions = {}\n",
                         d.pci_address.empty() ? "render_node" : "pci",
                         d.pci_address.empty() ? d.id : d.pci_address, d.backend, measured_sessions(d));
      if (d.density == 0) out += "# (no job ran at real time here: one job at a time)\n";
      if (d.session_limit > 0) out += fmt::format("# (the driver refused more than {} sessions at once)\n", d.session_limit);
      if (d.capacity > 0) out += fmt::format("capacity = {:.4g}\n", d.capacity);
    }
  }
  return out;
}

std::string to_csv(const std::vector<Run>& runs) {
  std::string out =
      "tool,concurrency,threads,wall_s,cpu_s,peak_rss_mib,frames_per_job,aggregate_fps,per_job_speed,"
      "cpu_s_per_frame,decode_s,scale_s,encode_s,package_s\n";
  auto stage = [](const Run& r, const char* k) { return r.stages.is_object() ? r.stages.value(k, 0.0) : 0.0; };
  for (const auto& r : runs)
    out += fmt::format("{},{},{},{:.3f},{:.3f},{:.1f},{},{:.2f},{:.3f},{:.5f},{:.3f},{:.3f},{:.3f},{:.3f}\n", r.tool,
                       r.concurrency, r.threads, r.wall, r.cpu, r.rss_mib, r.frames, aggregate_fps(r),
                       per_job_speed(r), cpu_per_frame(r), stage(r, "decode"), stage(r, "scale"),
                       stage(r, "encode"), stage(r, "package"));
  return out;
}

std::string sweep_svg(const std::vector<Series>& series, const std::string& title) {
  constexpr double kW = 720, kH = 420, kLeft = 70, kRight = 70, kTop = 40, kBottom = 50;
  int max_c = 1;
  double max_fps = 1, max_speed = 1;
  for (const auto& s : series)
    for (const auto& p : s.points) {
      max_c = std::max(max_c, p.concurrency);
      max_fps = std::max(max_fps, p.aggregate_fps);
      max_speed = std::max(max_speed, p.per_job_speed);
    }
  max_fps *= 1.1;
  max_speed *= 1.1;
  auto x = [&](double c) { return kLeft + (c - 1) / std::max(1, max_c - 1) * (kW - kLeft - kRight); };
  auto y_fps = [&](double v) { return kH - kBottom - v / max_fps * (kH - kTop - kBottom); };
  auto y_speed = [&](double v) { return kH - kBottom - v / max_speed * (kH - kTop - kBottom); };
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"24\" font-size=\"15\">{}</text>\n",
      kW, kH, kLeft, title);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", kLeft, kH - kBottom,
                     kW - kRight);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kLeft, kTop, kH - kBottom);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kW - kRight, kTop, kH - kBottom);
  for (int c = 1; c <= max_c; ++c)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x(c), kH - kBottom + 18, c);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">concurrent jobs</text>\n", (kW) / 2, kH - 12);
  for (int i = 0; i <= 4; ++i) {
    double f = max_fps * i / 4, s = max_speed * i / 4;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0f}</text>\n", kLeft - 6, y_fps(f) + 4, f);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{:.2f}x</text>\n", kW - kRight + 6, y_speed(s) + 4, s);
  }
  svg += fmt::format("<text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\">aggregate fps (solid)</text>\n", kH / 2 + 50, kH / 2 + 50);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" transform=\"rotate(90 {} {})\">per-job speed (dashed)</text>\n",
                     kW - 14, kH / 2 - 60, kW - 14, kH / 2 - 60);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#999\" stroke-dasharray=\"2,4\"/>\n",
                     kLeft, y_speed(1.0), kW - kRight);
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % 5];
    std::string fps_pts, speed_pts;
    for (const auto& p : series[i].points) {
      fps_pts += fmt::format("{:.1f},{:.1f} ", x(p.concurrency), y_fps(p.aggregate_fps));
      speed_pts += fmt::format("{:.1f},{:.1f} ", x(p.concurrency), y_speed(p.per_job_speed));
    }
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, fps_pts);
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"6,4\" points=\"{}\"/>\n",
                       color, speed_pts);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", kLeft + 10, kTop + 16 + 16 * i, color,
                       series[i].label);
  }
  return svg + "</svg>\n";
}

}  // namespace kiln::bench
