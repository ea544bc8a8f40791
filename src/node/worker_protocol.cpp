#include "node/worker_protocol.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::node::worker {
namespace {

using nlohmann::json;

json device_json(const Device& d) {
  return {{"backend", d.backend}, {"id", d.id}, {"description", d.description},
          {"pciAddress", d.pci_address}, {"vendor", d.vendor}, {"model", d.model},
          {"driver", d.driver}, {"renderNode", d.render_node}, {"cudaIndex", d.cuda_index},
          {"numaNode", d.numa_node}, {"localCpus", d.local_cpus},
          {"decodeCodecs", d.decode_codecs}, {"encodeCodecs", d.encode_codecs},
          {"sessionLimit", d.session_limit}, {"capacity", d.capacity}, {"usable", d.usable},
          {"cpuEmulated", d.cpu_emulated}, {"health", d.health}};
}

Device device_from(const json& j) {
  Device d;
  d.backend = j.at("backend").get<std::string>();
  d.id = j.at("id").get<std::string>();
  d.description = j.at("description").get<std::string>();
  d.pci_address = j.at("pciAddress").get<std::string>();
  d.vendor = j.at("vendor").get<std::string>();
  d.model = j.at("model").get<std::string>();
  d.driver = j.at("driver").get<std::string>();
  d.render_node = j.at("renderNode").get<std::string>();
  d.cuda_index = j.at("cudaIndex").get<int>();
  d.numa_node = j.at("numaNode").get<int>();
  d.local_cpus = j.at("localCpus").get<std::string>();
  d.decode_codecs = j.at("decodeCodecs").get<std::vector<std::string>>();
  d.encode_codecs = j.at("encodeCodecs").get<std::vector<std::string>>();
  d.session_limit = j.at("sessionLimit").get<int>();
  d.capacity = j.at("capacity").get<int>();
  d.usable = j.at("usable").get<bool>();
  d.cpu_emulated = j.at("cpuEmulated").get<bool>();
  d.health = j.at("health").get<std::string>();
  return d;
}

const char* numa_name(NumaPolicy p) {
  switch (p) {
    case NumaPolicy::kCpus: return "cpus";
    case NumaPolicy::kNone: return "none";
    default: return "local";
  }
}

json rule_json(const DeviceRule& r) {
  return {{"matchPci", r.match_pci}, {"matchRenderNode", r.match_render_node},
          {"matchVendor", r.match_vendor}, {"matchBackend", r.match_backend},
          {"enabled", r.enabled}, {"maxSessions", r.max_sessions}, {"codecs", r.codecs},
          {"numa", numa_name(r.numa)}, {"cpus", r.cpus}, {"capacity", r.capacity},
          {"origin", r.origin}};
}

DeviceRule rule_from(const json& j) {
  DeviceRule r;
  r.match_pci = j.at("matchPci").get<std::string>();
  r.match_render_node = j.at("matchRenderNode").get<std::string>();
  r.match_vendor = j.at("matchVendor").get<std::string>();
  r.match_backend = j.at("matchBackend").get<std::string>();
  r.enabled = j.at("enabled").get<bool>();
  r.max_sessions = j.at("maxSessions").get<int>();
  r.codecs = j.at("codecs").get<std::vector<std::string>>();
  std::string numa = j.at("numa").get<std::string>();
  r.numa = numa == "cpus" ? NumaPolicy::kCpus : numa == "none" ? NumaPolicy::kNone : NumaPolicy::kLocal;
  r.cpus = j.at("cpus").get<std::string>();
  r.capacity = j.at("capacity").get<double>();
  r.origin = j.at("origin").get<std::string>();
  return r;
}

// The parts of the node's config a transcode reads (placement, caps, strikes). The database
// url stays with the node: a worker never talks to PostgreSQL.
json config_json(const NodeConfig& c) {
  json rules = json::array();
  for (const auto& r : c.devices) rules.push_back(rule_json(r));
  return {{"name", c.name}, {"softwareSlots", c.software_slots}, {"strikes", c.strikes},
          {"strikeWindowSeconds", c.strike_window_seconds}, {"devices", rules},
          {"scratchDir", c.scratch_dir}, {"leaseSeconds", c.lease_seconds}};
}

// The node's [[location]] list as configured (no credentials: the worker resolves them from the
// same environment and files as the node, when it makes a client).
json location_json(const storage::Location& l) {
  json j = {{"name", l.name}, {"url", l.url}, {"root", l.root}, {"presignSeconds", l.presign_seconds},
           {"streamInput", storage::stream_input_name(l.stream_input)}};
  if (l.s3) {
    const auto& c = *l.s3;
    j["s3"] = {{"bucket", c.bucket}, {"prefix", c.prefix}, {"endpoint", c.endpoint}, {"region", c.region},
               {"pathStyle", c.path_style ? json(*c.path_style) : json(nullptr)},
               {"profile", c.credentials.profile}, {"credential", c.credentials.systemd_credential},
               {"partSize", c.part_size}, {"concurrency", c.concurrency}};
  }
  return j;
}

storage::Location location_from(const json& j) {
  storage::Location l;
  l.name = j.at("name").get<std::string>();
  l.url = j.at("url").get<std::string>();
  l.root = j.at("root").get<std::string>();
  l.presign_seconds = j.at("presignSeconds").get<int>();
  l.stream_input = storage::parse_stream_input(j.at("streamInput").get<std::string>(), "worker request")
                       .value_or(storage::Location::StreamInput::kNever);
  if (j.contains("s3")) {
    const json& s = j.at("s3");
    storage::s3::S3Config c;
    c.bucket = s.at("bucket").get<std::string>();
    c.prefix = s.at("prefix").get<std::string>();
    c.endpoint = s.at("endpoint").get<std::string>();
    c.region = s.at("region").get<std::string>();
    if (!s.at("pathStyle").is_null()) c.path_style = s.at("pathStyle").get<bool>();
    c.credentials.profile = s.at("profile").get<std::string>();
    c.credentials.systemd_credential = s.at("credential").get<std::string>();
    c.part_size = s.at("partSize").get<uint64_t>();
    c.concurrency = s.at("concurrency").get<int>();
    l.s3 = std::move(c);
  }
  return l;
}

NodeConfig config_from(const json& j) {
  NodeConfig c;
  c.name = j.at("name").get<std::string>();
  c.software_slots = j.at("softwareSlots").get<int>();
  c.strikes = j.at("strikes").get<int>();
  c.strike_window_seconds = j.at("strikeWindowSeconds").get<int>();
  for (const auto& r : j.at("devices")) c.devices.push_back(rule_from(r));
  c.scratch_dir = j.at("scratchDir").get<std::string>();
  c.lease_seconds = j.at("leaseSeconds").get<double>();
  return c;
}

std::string line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"; }

}  // namespace

json encode_job(const JobMessage& job) {
  json devices = json::array();
  for (const auto& d : job.devices) devices.push_back(device_json(d));
  json locations = json::array();
  for (const auto& l : job.locations.list()) locations.push_back(location_json(l));
  return {{"type", "job"}, {"id", job.id}, {"attempt", job.attempt}, {"spec", job.spec},
          {"devices", devices}, {"config", config_json(job.config)}, {"quarantined", job.quarantined},
          {"locations", locations}};
}

Result<JobMessage> decode_job(const json& j) {
  try {
    if (j.at("type").get<std::string>() != "job") return Status(Code::kInternal, "worker: expected a job message");
    JobMessage job;
    job.id = j.at("id").get<int64_t>();
    job.attempt = j.at("attempt").get<int>();
    job.spec = j.at("spec");
    if (!job.spec.is_object()) return Status(Code::kInternal, "worker: the job's spec is not an object");
    for (const auto& d : j.at("devices")) job.devices.push_back(device_from(d));
    job.config = config_from(j.at("config"));
    job.quarantined = j.at("quarantined").get<std::vector<std::string>>();
    std::vector<storage::Location> locations;
    for (const auto& l : j.at("locations")) locations.push_back(location_from(l));
    job.locations = storage::Locations(std::move(locations));
    return job;
  } catch (const json::exception& e) {
    return Status(Code::kInternal, fmt::format("worker: malformed job message: {}", e.what()));
  }
}

std::string progress_line(const Progress& p) {
  return line({{"type", "progress"}, {"phase", p.phase}, {"percent", p.percent}, {"fps", p.fps},
               {"speed", p.speed}, {"frames", p.frames}, {"etaSeconds", p.eta_seconds}});
}

std::string input_line(const json& details, double duration_seconds) {
  return line({{"type", "input"}, {"details", details}, {"durationSeconds", duration_seconds}});
}

std::string device_line(const Device& d, int sessions, bool running) {
  return line({{"type", "device"}, {"backend", d.backend}, {"id", d.id}, {"sessions", sessions},
               {"running", running}});
}

std::string strike_line(const std::string& key, const std::string& reason) {
  return line({{"type", "strike"}, {"device", key}, {"reason", reason}});
}

std::string place_request_line(const DeviceDemand& d) {
  return line({{"type", "place?"}, {"selector", d.selector}, {"codec", d.codec}, {"sessions", d.sessions},
               {"pixelsPerSecond", d.pixels_per_second}, {"candidates", d.candidates}});
}

std::string place_answer_line(const Result<DevicePlacement>& placed) {
  if (!placed)
    return line({{"type", "placed"}, {"ok", false}, {"code", code_name(placed.status().code())},
                 {"message", placed.status().message()}});
  return line({{"type", "placed"}, {"ok", true}, {"order", placed->order}, {"bindCpus", placed->bind_cpus},
               {"bindNuma", placed->bind_numa}, {"why", placed->why}});
}

std::string publish_request_line() { return line({{"type", "publish?"}}); }

std::string result_line(const json& output, const std::string& backend,
                        const std::vector<std::string>& fallbacks) {
  return line({{"type", "result"}, {"output", output}, {"backend", backend}, {"fallbacks", fallbacks}});
}

std::string error_line(const Status& status) {
  return line({{"type", "error"}, {"code", code_name(status.code())}, {"message", status.message()}});
}

std::string publish_answer_line(bool ok) { return line({{"type", "publish"}, {"ok", ok}}); }

namespace {
bool forwarded(const std::string& name) {
  for (const char* n : kForwardedCounters)
    if (name == n) return true;
  return false;
}
}  // namespace

std::string counters_line(const std::vector<metrics::CounterSample>& samples) {
  json list = json::array();
  for (const auto& s : samples)
    if (forwarded(s.name) && list.size() < kMaxCounterSamples)
      list.push_back({{"name", s.name}, {"help", s.help}, {"labelNames", s.label_names}, {"labels", s.labels},
                      {"value", s.value}});
  return line({{"type", "counters"}, {"counters", list}});
}

Code code_from_name(std::string_view name) {
  for (int c = static_cast<int>(Code::kOk); c <= static_cast<int>(Code::kInternal); ++c)
    if (name == code_name(static_cast<Code>(c))) return static_cast<Code>(c);
  return Code::kInternal;
}

Result<Report> decode_report(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status(Code::kInternal, fmt::format("worker sent a line that is not a JSON object: '{:.80}'", text));
  try {
    Report r;
    const std::string type = j.at("type").get<std::string>();
    if (type == "progress") {
      r.kind = Report::Kind::kProgress;
      r.progress.phase = j.at("phase").get<std::string>();
      r.progress.percent = j.at("percent").get<double>();
      r.progress.fps = j.at("fps").get<double>();
      r.progress.speed = j.at("speed").get<double>();
      r.progress.frames = j.at("frames").get<int64_t>();
      r.progress.eta_seconds = j.at("etaSeconds").get<double>();
    } else if (type == "input") {
      r.kind = Report::Kind::kInput;
      r.input_details = j.at("details");
      r.input_duration_seconds = j.at("durationSeconds").get<double>();
    } else if (type == "device") {
      r.kind = Report::Kind::kDevice;
      r.device_backend = j.at("backend").get<std::string>();
      r.device_id = j.at("id").get<std::string>();
      r.sessions = j.at("sessions").get<int>();
      r.running = j.at("running").get<bool>();
    } else if (type == "strike") {
      r.kind = Report::Kind::kStrike;
      r.strike_key = j.at("device").get<std::string>();
      r.reason = j.at("reason").get<std::string>();
    } else if (type == "place?") {
      r.kind = Report::Kind::kPlaceRequest;
      r.demand.selector = j.at("selector").get<std::string>();
      r.demand.codec = j.at("codec").get<std::string>();
      r.demand.sessions = j.at("sessions").get<int>();
      r.demand.pixels_per_second = j.at("pixelsPerSecond").get<double>();
      r.demand.candidates = j.at("candidates").get<std::vector<std::string>>();
      if (r.demand.sessions < 0 || r.demand.sessions > 64 || !(r.demand.pixels_per_second >= 0))
        return Status(Code::kInternal, "worker sent a place request out of range");
    } else if (type == "publish?") {
      r.kind = Report::Kind::kPublishRequest;
    } else if (type == "counters") {
      r.kind = Report::Kind::kCounters;
      for (const auto& c : j.at("counters")) {
        metrics::CounterSample s{c.at("name").get<std::string>(), c.at("help").get<std::string>(),
                                 c.at("labelNames").get<std::vector<std::string>>(),
                                 c.at("labels").get<std::vector<std::string>>(), c.at("value").get<double>()};
        bool short_labels = s.labels.size() == s.label_names.size();
        for (const auto& v : s.labels) short_labels = short_labels && v.size() <= 128;
        if (forwarded(s.name) && short_labels && s.value > 0 && s.value < 1e15 &&
            r.counters.size() < kMaxCounterSamples)
          r.counters.push_back(std::move(s));
      }
    } else if (type == "result") {
      r.kind = Report::Kind::kResult;
      r.output = j.at("output");
      r.backend = j.at("backend").get<std::string>();
      r.fallbacks = j.at("fallbacks").get<std::vector<std::string>>();
    } else if (type == "error") {
      r.kind = Report::Kind::kError;
      Code code = code_from_name(j.at("code").get<std::string>());
      if (code == Code::kOk) code = Code::kInternal;  // an "error" that says ok is not one
      r.status = Status(code, j.at("message").get<std::string>());
    } else {
      return Status(Code::kInternal, fmt::format("worker sent an unknown report type '{:.40}'", type));
    }
    return r;
  } catch (const json::exception& e) {
    return Status(Code::kInternal, fmt::format("worker sent a malformed report: {}", e.what()));
  }
}

Result<bool> decode_publish_answer(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("type", "") != "publish" || !j.contains("ok") ||
      !j["ok"].is_boolean())
    return Status(Code::kInternal, "worker: malformed answer to its publish request");
  return j["ok"].get<bool>();
}

Result<DevicePlacement> decode_place_answer(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("type", "") != "placed")
    return Status(Code::kInternal, "worker: malformed answer to its place request");
  try {
    if (!j.at("ok").get<bool>()) {
      Code code = code_from_name(j.at("code").get<std::string>());
      return Status(code == Code::kOk ? Code::kInternal : code, j.at("message").get<std::string>());
    }
    DevicePlacement p;
    p.order = j.at("order").get<std::vector<std::string>>();
    p.bind_cpus = j.at("bindCpus").get<std::string>();
    p.bind_numa = j.at("bindNuma").get<int>();
    p.why = j.at("why").get<std::string>();
    if (p.order.empty()) return Status(Code::kInternal, "worker: the node placed the job nowhere");
    return p;
  } catch (const json::exception& e) {
    return Status(Code::kInternal, fmt::format("worker: malformed answer to its place request: {}", e.what()));
  }
}

Result<std::vector<std::string>> LineSplitter::feed(std::string_view bytes) {
  std::vector<std::string> lines;
  buffer_.append(bytes);
  size_t start = 0;
  for (size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.emplace_back(buffer_, start, nl - start);
  buffer_.erase(0, start);
  if (buffer_.size() > kMaxLineBytes)
    return Status(Code::kInternal, fmt::format("worker sent a line longer than {} bytes", kMaxLineBytes));
  return lines;
}

Result<Ladder> ladder_from_spec(const json& spec) {
  Ladder ladder = default_ladder();
  if (spec.contains("ladder") && !spec["ladder"].is_string())
    return Status(Code::kUsage, "ladder must be a string of rendition names: \"720p,480p\"");
  std::string rungs = spec.value("ladder", std::string());
  if (!rungs.empty()) {
    auto selected = select_renditions(ladder, rungs);
    if (!selected) return selected.status();
    ladder = std::move(selected).value();
  }
  if (spec.contains("segmentSeconds")) {
    if (!spec["segmentSeconds"].is_number())
      return Status(Code::kUsage, "segmentSeconds must be a number");
    ladder.segment_seconds = spec["segmentSeconds"].get<double>();
    ladder.gop_seconds = std::min(ladder.gop_seconds, ladder.segment_seconds);
  }
  KILN_RETURN_IF_ERROR(validate_ladder(ladder));
  return ladder;
}

}  // namespace kiln::node::worker
