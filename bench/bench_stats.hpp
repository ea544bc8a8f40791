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
  std::vector<double> walls;  // each process's own wall seconds, in the order started
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
  double capacity = 0;        // output pixels/s at its best measured point (0 = not measured)
  int session_limit = 0;      // sessions the driver allowed at once when probed (0 = not probed
                              // or never refused): the sessions recommended never exceed it
};
std::string recommend_snippet(const std::vector<DeviceDensity>& devices);

/// Encoder sessions a device is measured to hold: its density's jobs times sessions per job, at
/// least one job's worth (a device that never ran in real time still runs one job at a time).
int measured_sessions(const DeviceDensity& d);

/// The two-device sweep through the node's placement: at each total concurrency, the jobs the
/// ledger placed on each device, the ones it refused (caps full), and the throughput.
struct PlacedPoint {
  int offered = 0;                    // jobs offered to the ledger at once
  int refused = 0;                    // placed nowhere: every device at its cap
  std::vector<int> jobs_per_device;   // in the order of the devices swept
  std::vector<int> most_sessions;     // the most sessions each device held (never above its cap)
  double aggregate_fps = 0;
  double slowest_job_speed = 0;       // x real time, of the slowest placed job
};
/// aggregate fps at the density (the most placed jobs with every job at real time or faster;
/// the largest point when none was) over the sum of each device's single-job fps alone.
double placed_efficiency(const std::vector<PlacedPoint>& points, const std::vector<double>& single_fps);

/// Output files.
std::string to_csv(const std::vector<Run>& runs);
/// An SVG line chart: aggregate fps and per-job speed against concurrency, one line per device.
struct Series {
  std::string label;
  std::vector<SweepPoint> points;
};
std::string sweep_svg(const std::vector<Series>& series, const std::string& title);

}  // namespace kiln::bench
