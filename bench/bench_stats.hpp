#pragma once
// kiln bench's arithmetic and outputs, kept apart from the running so they can be unit-tested:
// summaries of repeated runs, the concurrency sweep's stopping rule and density, the node.toml
// recommendation, and the JSON, CSV and SVG files.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kiln::bench {

struct Summary {
  double median = 0, min = 0, max = 0;
};
Summary summarize(std::vector<double> xs);

/// One run of one tool.
struct Run {
  std::string tool;           // kiln, ffmpeg, naive, gstreamer
  int concurrency = 1;        // jobs at once (kiln sweep)
  int threads = 0;            // encoder threads (threads sweep); 0 = automatic
  double wall = 0;            // seconds for the whole run (all concurrent jobs)
  double cpu = 0;             // user + system seconds of the processes
  double rss_mib = 0;         // peak resident set of the largest process
  int64_t frames = 0;         // source frames per job
  double media_seconds = 0;   // source duration per job
  nlohmann::json stages;      // kiln: decode/scale/encode/package seconds (per job, summed)
};

/// Aggregate frames per second (all jobs), per-job speed (x realtime), CPU s per output frame.
double aggregate_fps(const Run& r);
double per_job_speed(const Run& r);
double cpu_per_frame(const Run& r);

/// One concurrency level of a sweep: the median run.
struct SweepPoint {
  int concurrency = 0;
  double aggregate_fps = 0;
  double per_job_speed = 0;
};

/// The sweep stops when aggregate fps stopped rising (less than `min_gain` over the best so
/// far) or per-job speed fell below real time.
bool sweep_should_stop(const std::vector<SweepPoint>& points, double min_gain = 1.02);
/// Density: the most concurrent jobs that each still ran at least at real time (0 if none).
int density(const std::vector<SweepPoint>& points);

/// A node.toml snippet with the measured density: software slots or max_sessions per device.
struct DeviceDensity {
  std::string backend, id, pci_address;
  int density = 0;
  int renditions = 2;         // encoder sessions per job
};
std::string recommend_snippet(const std::vector<DeviceDensity>& devices);

/// Output files.
std::string to_csv(const std::vector<Run>& runs);
/// An SVG line chart: aggregate fps and per-job speed against concurrency, one line per device.
struct Series {
  std::string label;
  std::vector<SweepPoint> points;
};
std::string sweep_svg(const std::vector<Series>& series, const std::string& title);

}  // namespace kiln::bench
