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
