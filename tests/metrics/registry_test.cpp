#include "metrics/registry.hpp"

#include <gtest/gtest.h>

namespace kiln::metrics {
namespace {

TEST(Metrics, CountersAndGaugesInTextFormat) {
  Registry r;
  auto& jobs = r.counter("kiln_jobs_total", "Jobs by state.", {"state"});
  jobs.counter({"completed"}).inc();
  jobs.counter({"completed"}).inc(2);
  jobs.counter({"completed"}).inc(-5);  // ignored: counters only go up
  jobs.counter({"discarded"}).inc();
  r.gauge("kiln_sessions", "Encoder sessions in use.").gauge().set(3);
  EXPECT_EQ(r.exposition(),
            "# HELP kiln_jobs_total Jobs by state.\n"
            "# TYPE kiln_jobs_total counter\n"
            "kiln_jobs_total{state=\"completed\"} 3\n"
            "kiln_jobs_total{state=\"discarded\"} 1\n"
            "# HELP kiln_sessions Encoder sessions in use.\n"
            "# TYPE kiln_sessions gauge\n"
            "kiln_sessions 3\n");
}

// A worker process counts (S3 retries, fallbacks) where no /metrics serves them: its counters
// are handed to the node, which adds them to its own, one process's counts on top of another's.
TEST(Metrics, CountersMoveFromOneRegistryToAnother) {
  Registry worker;
  worker.counter("kiln_s3_retries_total", "S3 retries.", {"reason"}).counter({"connection"}).inc(3);
  worker.counter("kiln_s3_retries_total", "S3 retries.", {"reason"}).counter({"SlowDown"});  // zero: not sent
  worker.counter("kiln_fallbacks_total", "Fallbacks.").counter().inc();
  worker.gauge("kiln_sessions", "Sessions.").gauge().set(2);  // gauges stay where they are
  auto samples = worker.counters();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].name, "kiln_fallbacks_total");
  EXPECT_EQ(samples[1].labels, Labels{"connection"});
  EXPECT_EQ(samples[1].value, 3);

  Registry node;
  node.counter("kiln_s3_retries_total", "S3 retries.", {"reason"}).counter({"connection"}).inc(1);
  node.gauge("kiln_fallbacks_total", "Not a counter here.");
  EXPECT_FALSE(node.add(samples)) << "a name of another type is skipped, and said so";
  EXPECT_NE(node.exposition().find("kiln_s3_retries_total{reason=\"connection\"} 4\n"), std::string::npos)
      << node.exposition();
  EXPECT_EQ(node.counters().size(), 1u);
  Registry fresh;
  EXPECT_TRUE(fresh.add(samples));
  EXPECT_NE(fresh.exposition().find("# HELP kiln_fallbacks_total Fallbacks.\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("kiln_job_seconds", "Job duration.", {1, 10}).histogram();
  h.observe(0.5);
  h.observe(5);
  h.observe(50);
  EXPECT_EQ(r.exposition(),
            "# HELP kiln_job_seconds Job duration.\n"
            "# TYPE kiln_job_seconds histogram\n"
            "kiln_job_seconds_bucket{le=\"1\"} 1\n"
            "kiln_job_seconds_bucket{le=\"10\"} 2\n"
            "kiln_job_seconds_bucket{le=\"+Inf\"} 3\n"
            "kiln_job_seconds_sum 55.5\n"
            "kiln_job_seconds_count 3\n");
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, SameNameSameFamily) {
  Registry r;
  EXPECT_EQ(&r.counter("x_total", "x"), &r.counter("x_total", "x"));
}

}  // namespace
}  // namespace kiln::metrics
