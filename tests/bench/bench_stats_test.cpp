#include "bench_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/node_config.hpp"

namespace kiln::bench {
namespace {

TEST(BenchStats, MedianMinMax) {
  auto s = summarize({3, 1, 2});
  EXPECT_DOUBLE_EQ(s.median, 2);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 3);
  EXPECT_DOUBLE_EQ(summarize({4, 1, 2, 3}).median, 2.5);
  EXPECT_DOUBLE_EQ(summarize({}).median, 0);
}

TEST(BenchStats, RatesFromARun) {
  bench::Run r;
  r.concurrency = 2;
  r.frames = 600;
  r.media_seconds = 20;
  r.wall = 10;
  r.cpu = 24;
  EXPECT_DOUBLE_EQ(aggregate_fps(r), 120);
  EXPECT_DOUBLE_EQ(per_job_speed(r), 2);
  EXPECT_DOUBLE_EQ(cpu_per_frame(r), 0.02);
}

TEST(BenchStats, SweepStopsWhenThroughputStallsOrJobsFallBehind) {
  EXPECT_FALSE(sweep_should_stop({{1, 100, 3.0}}));
  EXPECT_FALSE(sweep_should_stop({{1, 100, 3.0}, {2, 150, 2.5}}));
  EXPECT_TRUE(sweep_should_stop({{1, 100, 3.0}, {2, 150, 2.5}, {3, 151, 1.7}}));   // +0.7%: stalled
  EXPECT_TRUE(sweep_should_stop({{1, 100, 3.0}, {2, 190, 0.9}}));                   // below real time
}

TEST(BenchStats, DensityIsTheMostJobsStillAtRealTime) {
  EXPECT_EQ(density({{1, 100, 3.0}, {2, 150, 2.0}, {3, 160, 1.1}, {4, 162, 0.8}}), 3);
  EXPECT_EQ(density({{1, 20, 0.7}}), 0);
}

TEST(BenchStats, RecommendationIsANodeTomlSnippet) {
  std::string s = recommend_snippet({{"software", "cpu", "", 2, 2}, {"nvenc", "0000:ca:00.0", "0000:ca:00.0", 6, 2},
                                     {"vaapi", "/dev/dri/renderD128", "", 4, 3}});
  EXPECT_NE(s.find("[node]\nsoftware_slots = 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("match = { pci = \"0000:ca:00.0\", backend = \"nvenc\" }\nmax_sessions = 12"), std::string::npos) << s;
  EXPECT_NE(s.find("match = { render_node = \"/dev/dri/renderD128\", backend = \"vaapi\" }\nmax_sessions = 12"),
            std::string::npos) << s;
  auto parsed = parse_node_config(s, "recommendation");  // it must be a config the node loads
  EXPECT_TRUE(parsed.is_ok()) << parsed.status().to_string();
}

TEST(BenchStats, RecommendationCarriesTheMeasuredCapacity) {
  DeviceDensity slow{"vaapi", "/dev/dri/renderD128", "0000:4d:00.0", 0, 2, 5.5e7};
  std::string s = recommend_snippet({slow});
  EXPECT_NE(s.find("max_sessions = 2\n"), std::string::npos) << s;  // never real time: one job at a time
  EXPECT_NE(s.find("capacity = 5.5e+07\n"), std::string::npos) << s;
  auto parsed = parse_node_config(s, "recommendation");
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->devices.size(), 1u);
  EXPECT_DOUBLE_EQ(parsed->devices[0].capacity, 5.5e7);
  EXPECT_EQ(measured_sessions({"nvenc", "x", "", 6, 3, 0}), 18);
  // A driver that refused the 9th session caps the recommendation at 8, whatever the density.
  DeviceDensity capped{"nvenc", "0000:ca:00.0", "0000:ca:00.0", 6, 3, 1e9, 8};
  EXPECT_EQ(measured_sessions(capped), 8);
  EXPECT_NE(recommend_snippet({capped}).find("max_sessions = 8\n# (the driver refused more than 8"), std::string::npos)
      << recommend_snippet({capped});
}

TEST(BenchStats, PlacedEfficiencyIsTakenAtTheDensity) {
  // Two devices of 100 fps alone each. At 4 jobs every job is still real time: 180 fps of 200.
  std::vector<PlacedPoint> points = {{1, 0, {1, 0}, {2, 0}, 100, 3.0}, {2, 0, {1, 1}, {2, 2}, 190, 3.0},
                                     {4, 0, {2, 2}, {4, 4}, 180, 1.2}, {5, 1, {2, 2}, {4, 4}, 185, 0.9}};
  EXPECT_DOUBLE_EQ(placed_efficiency(points, {100, 100}), 0.9);
  // No point at real time: the most jobs placed.
  std::vector<PlacedPoint> slow = {{1, 0, {1, 0}, {2, 0}, 20, 0.5}, {2, 0, {1, 1}, {2, 2}, 30, 0.4}};
  EXPECT_DOUBLE_EQ(placed_efficiency(slow, {20, 20}), 0.75);
  EXPECT_DOUBLE_EQ(placed_efficiency({}, {20}), 0);
}

TEST(BenchStats, CsvHasAHeaderAndARowPerRun) {
  bench::Run r;
  r.tool = "kiln";
  r.frames = 60;
  r.media_seconds = 2;
  r.wall = 1;
  r.stages = {{"decode", 0.5}};
  std::string csv = to_csv({r, r});
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_EQ(csv.rfind("tool,concurrency,threads,wall_s", 0), 0u);
  EXPECT_NE(csv.find("kiln,1,0,1.000"), std::string::npos) << csv;
}

TEST(BenchStats, SvgPlotsEverySeries) {
  std::string svg = sweep_svg({{"software cpu", {{1, 70, 2.4}, {2, 83, 1.4}}}, {"nvenc x", {{1, 300, 10}}}}, "t");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(std::count(svg.begin(), svg.end(), 'p') > 0, true);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  EXPECT_EQ(lines, 4u);  // fps and speed for each of the two series
  EXPECT_NE(svg.find("software cpu"), std::string::npos);
}

}  // namespace
}  // namespace kiln::bench
