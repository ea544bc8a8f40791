// kiln storage check LOCATION: lists, writes a probe object, reads it back and deletes it,
// printing each step, and on failure says what is wrong with its own exit code (README "Exit
// codes": 30-36). kiln storage cp SRC DST copies one file to or from a bucket.
//
// LOCATION is a [[location]] name from --config, or s3://BUCKET/PREFIX with the AWS variables.

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli/commands.hpp"
#include "log.hpp"
#include "storage/location.hpp"
#include "storage/s3/s3_client.hpp"
#include "toml_fields.hpp"

namespace kiln::cli {
namespace {
namespace fs = std::filesystem;
using storage::s3::S3Client;
using storage::s3::S3Config;

struct StorageOptions {
  std::string config, location, src, dst, endpoint, region;
  std::optional<bool> path_style;
  double part_size_mib = 0;
  int concurrency = 0;
};

/// A location from --config, or an s3:// URL with the overrides on the command line.
Result<storage::Location> find_location(const StorageOptions& o, const std::string& ref) {
  storage::Location l;
  if (ref.rfind("s3://", 0) == 0) {
    auto c = storage::s3::parse_s3_url(ref);
    if (!c) return c.status();
    l.name = ref;
    l.url = ref;
    l.s3 = *c;
  } else {
    if (o.config.empty())
      return Status(Code::kUsage, fmt::format("'{}' is not s3://BUCKET/PREFIX: name a location with --config FILE", ref));
    auto text = toml_fields::read_file(o.config, "config");
    if (!text) return text.status();
    auto table = toml_fields::parse(*text, o.config);
    if (!table) return table.status();
    auto locations = storage::parse_locations(*table, o.config);
    if (!locations) return locations.status();
    const storage::Location* found = locations->find(ref);
    if (!found) return Status(Code::kUsage, fmt::format("{} has no [[location]] named '{}'", o.config, ref));
    l = *found;
  }
  if (l.s3) {
    if (!o.endpoint.empty()) l.s3->endpoint = o.endpoint;
    if (!o.region.empty()) l.s3->region = o.region;
    if (o.path_style) l.s3->path_style = o.path_style;
    if (o.part_size_mib > 0) l.s3->part_size = static_cast<uint64_t>(o.part_size_mib * 1024 * 1024);
    if (o.concurrency > 0) l.s3->concurrency = o.concurrency;
  }
  return l;
}

int fail(const Status& s) {
  std::fflush(stdout);
  std::fprintf(stderr, "kiln: %s\n", s.message().c_str());
  return exit_code(s.code());
}

std::string probe_bytes() {
  std::mt19937_64 rng(std::random_device{}());
  std::string s = "kiln storage check probe\n";
  while (s.size() < 4096) s += static_cast<char>('a' + rng() % 26);
  return s;
}

std::string probe_name() {
  std::mt19937_64 rng(std::random_device{}());
  return fmt::format(".kiln-check-{:016x}", rng());
}

/// One step's line: "  list    ok (...)" or "  list    FAILED"; the reason goes to stderr.
template <class T>
bool step(const char* name, const Result<T>& r, const std::string& detail) {
  std::printf("  %-7s %s\n", name, r.is_ok() ? ("ok" + (detail.empty() ? "" : " (" + detail + ")")).c_str() : "FAILED");
  std::fflush(stdout);
  return r.is_ok();
}

int check_s3(const storage::Location& l) {
  auto client = S3Client::create(*l.s3);
  if (!client) return fail(client.status());
  std::printf("checking %s: %s\n", l.name.c_str(), (*client)->describe().c_str());
  const S3Config& c = *l.s3;
  auto listed = (*client)->list(c.prefix, 10);
  if (!step("list", listed, listed ? fmt::format("{} objects in the first page under '{}'", listed->size(), c.prefix) : ""))
    return fail(listed.status());
  const std::string key = c.key(probe_name());
  const std::string bytes = probe_bytes();
  auto put = (*client)->put(key, bytes, {"text/plain", "no-store"});
  if (!step("write", put, put ? fmt::format("{}, {} bytes", key, bytes.size()) : "")) return fail(put.status());
  auto got = (*client)->get(key);
  if (got && *got != bytes)
    got = Status(Code::kStorage, fmt::format("the probe read back differs from what was written ({} bytes, {} sent): "
                                             "something between rewrites objects",
                                             got->size(), bytes.size()));
  if (!step("read", got, got ? "identical" : "")) {
    Status s = got.status();
    (void)(*client)->remove(key);
    return fail(s);
  }
  Result<bool> removed = true;
  if (Status s = (*client)->remove(key); !s.is_ok()) removed = s;
  if (removed) {
    auto head = (*client)->head(key);
    if (head) removed = Status(Code::kStorage, fmt::format("the probe {} is still there after DELETE", key));
  }
  if (!step("delete", removed, "")) return fail(removed.status());
  std::printf("storage check passed\n");
  return 0;
}

int check_file(const storage::Location& l) {
  std::printf("checking %s: %s\n", l.name.c_str(), l.root.c_str());
  std::error_code ec;
  Result<bool> listed = true;
  size_t n = 0;
  for (auto it = fs::directory_iterator(l.root, ec); !ec && it != fs::directory_iterator() && n < 10; it.increment(ec)) ++n;
  if (ec) listed = Status(Code::kIo, fmt::format("cannot list '{}': {}", l.root, ec.message()));
  if (!step("list", listed, fmt::format("{} entries seen", n))) return fail(listed.status());
  fs::path probe = fs::path(l.root) / probe_name();
  std::string bytes = probe_bytes();
  Result<bool> wrote = true;
  {
    std::ofstream out(probe, std::ios::binary);
    out << bytes;
    out.flush();
    if (!out) wrote = Status(Code::kIo, fmt::format("cannot write '{}'", probe.string()));
  }
  if (!step("write", wrote, probe.string())) return fail(wrote.status());
  std::ifstream in(probe, std::ios::binary);
  std::string back{std::istreambuf_iterator<char>(in), {}};
  Result<bool> read = back == bytes ? Result<bool>(true) : Result<bool>(Code::kIo, "the probe read back differs");
  if (!step("read", read, "identical")) return fail(read.status());
  Result<bool> removed = fs::remove(probe, ec) && !ec ? Result<bool>(true)
                                                       : Result<bool>(Code::kIo, "cannot delete " + probe.string());
  if (!step("delete", removed, "")) return fail(removed.status());
  std::printf("storage check passed\n");
  return 0;
}

/// An end of a copy: a local path, or a location and key.
struct End {
  std::optional<storage::Location> location;
  std::string key_or_path;
};

Result<End> parse_end(const StorageOptions& o, const std::string& ref) {
  End e;
  if (ref.rfind("s3://", 0) == 0) {
    auto c = storage::s3::parse_s3_url(ref);
    if (!c) return c.status();
    std::string key = c->prefix;
    c->prefix.clear();
    auto l = find_location(o, "s3://" + c->bucket);
    if (!l) return l.status();
    e.location = *l;
    e.key_or_path = key;
    return e;
  }
  size_t colon = ref.find(':');
  if (colon != std::string::npos && !o.config.empty() && ref[0] != '/') {
    auto l = find_location(o, ref.substr(0, colon));
    if (!l) return l.status();
    if (!l->s3) return Status(Code::kUsage, fmt::format("'{}' is a file location: copy its files with cp", l->name));
    e.key_or_path = l->s3->key(ref.substr(colon + 1));
    e.location = *l;
    return e;
  }
  e.key_or_path = ref;
  return e;
}

int copy(const StorageOptions& o) {
  auto src = parse_end(o, o.src);
  if (!src) return fail(src.status());
  auto dst = parse_end(o, o.dst);
  if (!dst) return fail(dst.status());
  if (src->location.has_value() == dst->location.has_value())
    return fail(Status(Code::kUsage, "kiln storage cp copies between a local file and a bucket: one side each"));
  auto started = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  if (src->location) {
    auto client = S3Client::create(*src->location->s3);
    if (!client) return fail(client.status());
    std::string path = dst->key_or_path;
    if (fs::is_directory(path)) path = (fs::path(path) / fs::path(src->key_or_path).filename()).string();
    auto r = (*client)->download_to_file(src->key_or_path, path);
    if (!r) return fail(r.status());
    bytes = r->size;
  } else {
    auto client = S3Client::create(*dst->location->s3);
    if (!client) return fail(client.status());
    std::string key = dst->key_or_path;
    if (key.empty() || key.back() == '/') key += fs::path(src->key_or_path).filename().string();
    auto r = (*client)->upload_file(src->key_or_path, key);
    if (!r) return fail(r.status());
    bytes = r->size;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("copied %llu bytes in %.3f s (%.1f MB/s)\n", static_cast<unsigned long long>(bytes), s,
              s > 0 ? static_cast<double>(bytes) / s / 1e6 : 0.0);
  return 0;
}

}  // namespace

std::function<int()> add_storage(CLI::App& app) {
  auto o = std::make_shared<StorageOptions>();
  CLI::App* storage = app.add_subcommand("storage", "Check a storage location, or copy a file to or from a bucket");
  storage->require_subcommand(1);
  auto common = [&](CLI::App* sub) {
    sub->add_option("--config", o->config, "a node.toml or coordinator.toml whose [[location]]s to use");
    sub->add_option("--endpoint", o->endpoint, "S3 endpoint URL (default: the location's, else $AWS_ENDPOINT_URL)");
    sub->add_option("--region", o->region, "S3 region (default: the location's, else $AWS_REGION, else us-east-1)");
    sub->add_option("--path-style", o->path_style, "true: BUCKET in the path; false: BUCKET.host (default: automatic)");
  };
  CLI::App* check = storage->add_subcommand(
      "check", "List, write, read back and delete a probe object; exit codes 30-36 say what is wrong");
  check->add_option("location", o->location, "a [[location]] name (with --config) or s3://BUCKET/PREFIX")->required();
  common(check);
  CLI::App* cp = storage->add_subcommand("cp", "Copy a file to or from a bucket: kiln storage cp a.mp4 s3://b/in/");
  cp->add_option("src", o->src, "a local file, s3://BUCKET/KEY or LOCATION:KEY (with --config)")->required();
  cp->add_option("dst", o->dst, "a local path, s3://BUCKET/KEY (a trailing / keeps the file name) or LOCATION:KEY")
      ->required();
  cp->add_option("--part-size", o->part_size_mib, "multipart part size in MiB (default 8)");
  cp->add_option("--concurrency", o->concurrency, "parts in flight at once (default 4)");
  common(cp);
  return [o, check, cp]() -> int {
    if (check->parsed()) {
      auto l = find_location(*o, o->location);
      if (!l) return fail(l.status());
      return l->s3 ? check_s3(*l) : check_file(*l);
    }
    if (cp->parsed()) return copy(*o);
    return exit_code(Code::kUsage);
  };
}

}  // namespace kiln::cli
