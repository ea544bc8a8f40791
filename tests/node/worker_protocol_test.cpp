#include "node/worker_protocol.hpp"

#include <gtest/gtest.h>

namespace kiln::node::worker {
namespace {

std::string strip(std::string line) {
  EXPECT_EQ(line.back(), '\n');
  line.pop_back();
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one report, one line";
  return line;
}

TEST(WorkerProtocol, JobRoundTripsWithoutTheDatabaseUrl) {
  JobMessage job;
  job.id = 42;
  job.attempt = 3;
  job.spec = {{"input", "/media/a.mp4"}, {"output", "/out/a"}, {"ladder", "480p"}};
  Device d;
  d.backend = "vaapi";
  d.id = "/dev/dri/renderD128";
  d.pci_address = "0000:00:02.0";
  d.encode_codecs = {"h264", "hevc"};
  d.session_limit = 4;
  d.numa_node = 1;
  d.cpu_emulated = true;
  job.devices = {d};
  job.config.database_url = "postgresql://secret@db/kiln";
  job.config.strikes = 5;
  DeviceRule rule;
  rule.match_backend = "vaapi";
  rule.max_sessions = 2;
  rule.numa = NumaPolicy::kCpus;
  rule.cpus = "0-3";
  job.config.devices = {rule};
  job.quarantined = {"nvenc:0000:65:00.0"};

  auto text = encode_job(job).dump();
  EXPECT_EQ(text.find("secret"), std::string::npos) << "a worker never gets database credentials";
  auto back = decode_job(nlohmann::json::parse(text));
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->id, 42);
  EXPECT_EQ(back->attempt, 3);
  EXPECT_EQ(back->spec["ladder"], "480p");
  ASSERT_EQ(back->devices.size(), 1u);
  EXPECT_EQ(back->devices[0].id, "/dev/dri/renderD128");
  EXPECT_EQ(back->devices[0].encode_codecs, d.encode_codecs);
  EXPECT_EQ(back->devices[0].session_limit, 4);
  EXPECT_EQ(back->devices[0].numa_node, 1);
  EXPECT_TRUE(back->devices[0].cpu_emulated);
  EXPECT_EQ(back->config.strikes, 5);
  ASSERT_EQ(back->config.devices.size(), 1u);
  EXPECT_EQ(back->config.devices[0].max_sessions, 2);
  EXPECT_EQ(back->config.devices[0].numa, NumaPolicy::kCpus);
  EXPECT_EQ(back->config.devices[0].cpus, "0-3");
  EXPECT_EQ(back->quarantined, job.quarantined);
}

// The worker reaches buckets as the node would: the same locations, its scratch directory, and
// the lease that bounds its manifests. Credentials are never in the message: the worker looks
// them up from the same environment and files.
TEST(WorkerProtocol, LocationsScratchAndLeaseReachTheWorkerWithoutSecrets) {
  JobMessage job;
  job.spec = {{"input", "s3://media-in/uploads/a.mp4"}, {"output", "s3://media-out/ladders/a"}};
  job.config.scratch_dir = "/srv/scratch";
  job.config.lease_seconds = 12;
  storage::Location file{"media", "file:///srv/media", "/srv/media", std::nullopt};
  storage::Location bucket{"out", "s3://media-out/ladders/", "", std::nullopt};
  storage::s3::S3Config c;
  c.bucket = "media-out";
  c.prefix = "ladders/";
  c.endpoint = "http://127.0.0.1:9000";
  c.path_style = false;
  c.credentials.profile = "media";
  c.part_size = 16 << 20;
  c.concurrency = 7;
  bucket.s3 = c;
  bucket.presign_seconds = 900;
  bucket.stream_input = storage::Location::StreamInput::kAuto;
  job.locations = storage::Locations({file, bucket});

  auto back = decode_job(nlohmann::json::parse(encode_job(job).dump()));
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back->config.scratch_dir, "/srv/scratch");
  EXPECT_EQ(back->config.lease_seconds, 12);
  ASSERT_EQ(back->locations.list().size(), 2u);
  EXPECT_FALSE(back->locations.find("media")->is_s3());
  EXPECT_EQ(back->locations.find("media")->root, "/srv/media");
  const storage::Location* out = back->locations.find("out");
  ASSERT_TRUE(out && out->is_s3());
  EXPECT_EQ(out->s3->prefix, "ladders/");
  EXPECT_EQ(out->s3->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(out->s3->path_style, std::optional<bool>(false));
  EXPECT_EQ(out->s3->credentials.profile, "media");
  EXPECT_EQ(out->s3->part_size, 16u << 20);
  EXPECT_EQ(out->s3->concurrency, 7);
  EXPECT_EQ(out->presign_seconds, 900);
  EXPECT_EQ(out->stream_input, storage::Location::StreamInput::kAuto);
  EXPECT_EQ(back->locations.find("media")->stream_input, storage::Location::StreamInput::kNever);
  // The worker resolves the node's canonical paths against them as the node did.
  EXPECT_EQ(back->locations.resolve("s3://media-out/ladders/a", "output").value_or(""), "s3://media-out/ladders/a");
}

// What a worker counted reaches the node, but only the counters a worker is meant to count,
// within bounds: a worker parses untrusted media and must not fill the node's /metrics.
TEST(WorkerProtocol, CountersRoundTripAndOnlyForwardedOnesWithinBoundsAreTaken) {
  std::vector<metrics::CounterSample> samples = {
      {"kiln_s3_retries_total", "S3 retries.", {"reason"}, {"connection"}, 2},
      {"kiln_s3_cleanup_failures_total", "Cleanup.", {"when"}, {"failed_publish"}, 1},
      {"kiln_jobs_total", "Not a worker's.", {}, {}, 5},
  };
  auto r = decode_report(strip(counters_line(samples)));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->kind, Report::Kind::kCounters);
  ASSERT_EQ(r->counters.size(), 2u);
  EXPECT_EQ(r->counters[0].name, "kiln_s3_retries_total");
  EXPECT_EQ(r->counters[0].labels, metrics::Labels{"connection"});
  EXPECT_EQ(r->counters[0].value, 2);
  EXPECT_EQ(r->counters[1].label_names, std::vector<std::string>{"when"});

  // A hostile worker writes its own line: unknown names, huge labels, floods are dropped.
  nlohmann::json flood = {{"type", "counters"}, {"counters", nlohmann::json::array()}};
  flood["counters"].push_back({{"name", "kiln_evil_total"}, {"help", ""}, {"labelNames", nlohmann::json::array()}, {"labels", nlohmann::json::array()}, {"value", 1}});
  flood["counters"].push_back({{"name", "kiln_s3_retries_total"}, {"help", ""}, {"labelNames", {"reason"}},
                               {"labels", {std::string(500, 'x')}}, {"value", 1}});
  for (int i = 0; i < 100; ++i)
    flood["counters"].push_back({{"name", "kiln_s3_retries_total"}, {"help", ""}, {"labelNames", {"reason"}},
                                 {"labels", {"r" + std::to_string(i)}}, {"value", 1}});
  auto hostile = decode_report(flood.dump());
  ASSERT_TRUE(hostile.is_ok()) << hostile.status().message();
  EXPECT_EQ(hostile->counters.size(), kMaxCounterSamples);
  for (const auto& c : hostile->counters) EXPECT_EQ(c.name, "kiln_s3_retries_total");
}

TEST(WorkerProtocol, MalformedJobsAreRefusedWithTheReason) {
  EXPECT_FALSE(decode_job(nlohmann::json::object()).is_ok());
  JobMessage valid;
  valid.spec = nlohmann::json::object();
  ASSERT_TRUE(decode_job(encode_job(valid)).is_ok());
  auto j = encode_job(valid);
  j.erase("devices");
  auto r = decode_job(j);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("devices"), std::string::npos) << r.status().message();
  j = encode_job(valid);
  j["spec"] = "not an object";
  EXPECT_FALSE(decode_job(j).is_ok());
}

TEST(WorkerProtocol, EveryReportRoundTrips) {
  Progress p;
  p.phase = "transcoding";
  p.percent = 42.5;
  p.fps = 120;
  p.speed = 4;
  p.frames = 600;
  p.eta_seconds = 7;
  auto prog = decode_report(strip(progress_line(p)));
  ASSERT_TRUE(prog.is_ok());
  EXPECT_EQ(prog->kind, Report::Kind::kProgress);
  EXPECT_EQ(prog->progress.phase, "transcoding");
  EXPECT_DOUBLE_EQ(prog->progress.percent, 42.5);
  EXPECT_EQ(prog->progress.frames, 600);
  EXPECT_DOUBLE_EQ(prog->progress.eta_seconds, 7);

  auto in = decode_report(strip(input_line({{"uri", "/a.mp4"}}, 12.5)));
  ASSERT_TRUE(in.is_ok());
  EXPECT_EQ(in->kind, Report::Kind::kInput);
  EXPECT_EQ(in->input_details["uri"], "/a.mp4");
  EXPECT_DOUBLE_EQ(in->input_duration_seconds, 12.5);

  Device d;
  d.backend = "vaapi";
  d.id = "/dev/dri/renderD129";
  auto dev = decode_report(strip(device_line(d, 2, true)));
  ASSERT_TRUE(dev.is_ok());
  EXPECT_EQ(dev->kind, Report::Kind::kDevice);
  EXPECT_EQ(dev->device_backend, "vaapi");
  EXPECT_EQ(dev->device_id, "/dev/dri/renderD129");
  EXPECT_EQ(dev->sessions, 2);
  EXPECT_TRUE(dev->running);

  auto strike = decode_report(strip(strike_line("vaapi:/dev/dri/renderD129", "device lost")));
  ASSERT_TRUE(strike.is_ok());
  EXPECT_EQ(strike->kind, Report::Kind::kStrike);
  EXPECT_EQ(strike->strike_key, "vaapi:/dev/dri/renderD129");
  EXPECT_EQ(strike->reason, "device lost");

  auto ask = decode_report(strip(publish_request_line()));
  ASSERT_TRUE(ask.is_ok());
  EXPECT_EQ(ask->kind, Report::Kind::kPublishRequest);

  auto res = decode_report(strip(result_line({{"detail", {{"status", "COMPLETE"}}}}, "software", {"vaapi failed"})));
  ASSERT_TRUE(res.is_ok());
  EXPECT_EQ(res->kind, Report::Kind::kResult);
  EXPECT_EQ(res->output["detail"]["status"], "COMPLETE");
  EXPECT_EQ(res->backend, "software");
  EXPECT_EQ(res->fallbacks, std::vector<std::string>{"vaapi failed"});

  auto err = decode_report(strip(error_line(Status(Code::kInputTruncated, "cut short"))));
  ASSERT_TRUE(err.is_ok());
  EXPECT_EQ(err->kind, Report::Kind::kError);
  EXPECT_EQ(err->status.code(), Code::kInputTruncated);
  EXPECT_EQ(err->status.message(), "cut short");

  EXPECT_EQ(decode_publish_answer(strip(publish_answer_line(true))).value(), true);
  EXPECT_EQ(decode_publish_answer(strip(publish_answer_line(false))).value(), false);
}

// The worker's "place?" and the node's answer: a placement, or the ledger's refusal as kBusy.
TEST(WorkerProtocol, PlaceRequestsAndAnswersRoundTrip) {
  DeviceDemand d;
  d.selector = "0000:81:00.0";
  d.sessions = 3;
  d.pixels_per_second = 1.5e8;
  d.candidates = {"vaapi:/dev/dri/renderD128", "software:cpu"};
  auto r = decode_report(strip(place_request_line(d)));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->kind, Report::Kind::kPlaceRequest);
  EXPECT_EQ(r->demand.selector, d.selector);
  EXPECT_EQ(r->demand.sessions, 3);
  EXPECT_DOUBLE_EQ(r->demand.pixels_per_second, 1.5e8);
  EXPECT_EQ(r->demand.candidates, d.candidates);
  DevicePlacement p{{"vaapi:/dev/dri/renderD128", "software:cpu"}, "0-7", 0, "least load"};
  auto a = decode_place_answer(strip(place_answer_line(p)));
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->order, p.order);
  EXPECT_EQ(a->bind_cpus, "0-7");
  EXPECT_EQ(a->bind_numa, 0);
  auto busy = decode_place_answer(strip(place_answer_line(Status(Code::kBusy, "2 of 2 encoder sessions"))));
  ASSERT_FALSE(busy.is_ok());
  EXPECT_EQ(busy.status().code(), Code::kBusy);
  EXPECT_EQ(busy.status().message(), "2 of 2 encoder sessions");
  EXPECT_FALSE(decode_report(R"({"type":"place?","selector":"","codec":"h264","sessions":-1,"pixelsPerSecond":1,"candidates":[]})").is_ok());
  EXPECT_FALSE(decode_place_answer(R"({"type":"placed","ok":true,"order":[],"bindCpus":"","bindNuma":-1,"why":""})").is_ok());
}

TEST(WorkerProtocol, GarbageIsAnErrorNotACrash) {
  for (const char* bad : {"", "nonsense", "[1,2]", R"({"type":"progress"})", R"({"type":"launch"})",
                          R"({"type":"device","backend":"x","id":"y","sessions":"two","running":true})"})
    EXPECT_FALSE(decode_report(bad).is_ok()) << bad;
  EXPECT_FALSE(decode_publish_answer(R"({"type":"publish","ok":"yes"})").is_ok());
  EXPECT_FALSE(decode_publish_answer("").is_ok());
  // An error report that claims success is still a failure.
  auto ok_error = decode_report(R"({"type":"error","code":"ok","message":"fine"})");
  ASSERT_TRUE(ok_error.is_ok());
  EXPECT_EQ(ok_error->status.code(), Code::kInternal);
}

TEST(WorkerProtocol, CodeNamesMapBack) {
  for (Code c : {Code::kUsage, Code::kInputLimits, Code::kDeviceLost, Code::kCancelled, Code::kInternal})
    EXPECT_EQ(code_from_name(code_name(c)), c);
  EXPECT_EQ(code_from_name("no_such_code"), Code::kInternal);
}

TEST(WorkerProtocol, LinesSplitAcrossReadsAndLongLinesAreRefused) {
  LineSplitter s;
  auto a = s.feed("{\"a\":1}\n{\"b\"");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(*a, std::vector<std::string>{"{\"a\":1}"});
  EXPECT_EQ(s.pending(), "{\"b\"");
  auto b = s.feed(":2}\n\n");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(*b, (std::vector<std::string>{"{\"b\":2}", ""}));
  EXPECT_TRUE(s.pending().empty());
  LineSplitter big;
  EXPECT_FALSE(big.feed(std::string(kMaxLineBytes + 1, 'x')).is_ok());
}

TEST(WorkerProtocol, LadderFromSpec) {
  auto plain = ladder_from_spec(nlohmann::json::object());
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(plain->renditions.empty());
  auto one = ladder_from_spec({{"ladder", "480p"}, {"segmentSeconds", 1.0}});
  ASSERT_TRUE(one.is_ok());
  ASSERT_EQ(one->renditions.size(), 1u);
  EXPECT_EQ(one->renditions[0].name, "480p");
  EXPECT_DOUBLE_EQ(one->segment_seconds, 1.0);
  EXPECT_LE(one->gop_seconds, 1.0);
  EXPECT_FALSE(ladder_from_spec({{"ladder", "banana"}}).is_ok());
  EXPECT_FALSE(ladder_from_spec({{"segmentSeconds", "four"}}).is_ok());
}

}  // namespace
}  // namespace kiln::node::worker
