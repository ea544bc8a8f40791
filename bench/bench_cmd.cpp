// kiln bench: how many ladders a machine sustains, against the ffmpeg CLI doing the same work.
// Runs are processes (kiln transcode, ffmpeg, gst-launch-1.0), measured with wait4: wall time,
// CPU time, peak RSS. Peers alternate with kiln in every round so machine drift hits all alike.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
}

#include "bench_stats.hpp"
#include "cli/commands.hpp"
#include "cli/progress_bar.hpp"
#include "kiln/backend.hpp"
#include "kiln/ladder.hpp"
#include "kiln/topology.hpp"
#include "kiln/node_config.hpp"
#include "kiln/version.hpp"
#include "log.hpp"
#include "scheduler/capacity_file.hpp"
#include "scheduler/ledger.hpp"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;
using bench::Run;
using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string input;
  std::string source = "1080p30";
  double duration = 20;
  int runs = 3;
  std::string ladder;
  std::string mode = "single";     // single, sweep, threads, all
  int max_concurrency = 4;
  std::string threads_list = "1,2,4";
  std::string peers = "ffmpeg,naive,gstreamer";
  std::string devices = "software";  // sweep these: "software", "all", or backend names
  std::string out;
  std::string capacity_file;         // --recommend also writes the measurements here
  std::string node_config;           // the node's rules, for the placed sweep
  bool recommend = false;
  bool quality = true;
  std::string codecs;                // --codecs h264,hevc,av1: the ladder in each, kiln and the peers alike
  bool extras = false;               // also measure MP4 + thumbnails + storyboards + poster on top
};

struct SourceSpec {
  const char* name;
  int width, height, fps;
};
constexpr SourceSpec kSources[] = {{"1080p30", 1920, 1080, 30}, {"2160p30", 3840, 2160, 30}, {"720p60", 1280, 720, 60}};

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }

bool on_path(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Runs the commands at once; wall until the last ends, CPU summed, RSS of the largest.
/// Each command's stdout goes to `stdout_files[i]` when given.
Result<Run> run_processes(const std::vector<std::vector<std::string>>& cmds, const std::vector<std::string>& stdout_files) {
  Run r;
  auto t0 = Clock::now();
  std::vector<pid_t> pids;
  for (size_t i = 0; i < cmds.size(); ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      if (i < stdout_files.size() && !stdout_files[i].empty()) freopen(stdout_files[i].c_str(), "w", stdout);
      else freopen("/dev/null", "w", stdout);
      freopen("/dev/null", "w", stderr);
      std::vector<char*> argv;
      for (const auto& a : cmds[i]) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    pids.push_back(pid);
  }
  int failed = 0;
  r.walls.assign(pids.size(), 0);
  for (size_t left = pids.size(); left > 0;) {  // in the order they end: each one's own wall
    int status = 0;
    rusage ru{};
    pid_t pid = wait4(-1, &status, 0, &ru);
    if (pid < 0) break;
    auto at = std::find(pids.begin(), pids.end(), pid);
    if (at == pids.end()) continue;
    --left;
    r.walls[at - pids.begin()] = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    r.cpu += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    r.rss_mib = std::max(r.rss_mib, ru.ru_maxrss / 1024.0);
  }
  r.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  if (failed) return Status(Code::kInternal, fmt::format("{} of {} process(es) failed: {}", failed, cmds.size(),
                                                         fmt::join(cmds[0], " ")));
  return r;
}

/// Frames per GOP at the source's real rate, rounded as kiln's encoder rounds it.
int gop_frames(const Ladder& l, double fps) {
  return std::max(1, static_cast<int>(std::lround(l.gop_seconds * (fps > 0 ? fps : 30.0))));
}

/// SVT-AV1's numbered preset for an x264 preset name, as kiln maps it (media/video_encoder).
std::string svt_preset(const std::string& x264) {
  static const std::map<std::string, std::string> kMap = {
      {"ultrafast", "12"}, {"superfast", "11"}, {"veryfast", "10"}, {"faster", "9"}, {"fast", "8"},
      {"medium", "7"},     {"slow", "6"},       {"slower", "5"},    {"veryslow", "4"}};
  auto it = kMap.find(x264);
  return it == kMap.end() ? "10" : it->second;
}

/// The encoder options kiln gives one rendition, for output stream `index` of an ffmpeg
/// command: the same encoder, rate control, GOP, profile and preset.
std::vector<std::string> encoder_opts(const PlannedRendition& p, int index, const Ladder& l, double fps) {
  auto k = [](int64_t b) { return std::to_string(b / 1000) + "k"; };
  const Rendition& r = p.spec;
  std::string i = std::to_string(index);
  std::string gop = std::to_string(gop_frames(l, fps));
  const VideoCodecInfo* codec = video_codec(p.codec);
  std::vector<std::string> o = {"-c:v:" + i, codec ? codec->software_encoder : "libx264", "-b:v:" + i,
                                k(r.video_bitrate), "-bufsize:v:" + i, k(r.bufsize), "-g:v:" + i, gop,
                                "-keyint_min:v:" + i, gop};
  if (p.codec == "av1") {
    o.insert(o.end(), {"-preset:v:" + i, svt_preset(r.x264_preset), "-svtav1-params:v:" + i, "irefresh-type=2"});
  } else {
    o.insert(o.end(), {"-maxrate:v:" + i, k(r.maxrate), "-profile:v:" + i, r.profile, "-preset:v:" + i, r.x264_preset});
    if (p.codec == "hevc")
      o.insert(o.end(), {"-x265-params:v:" + i, "scenecut=0:open-gop=0:log-level=error", "-tag:v:" + i, "hvc1"});
    else
      o.insert(o.end(), {"-x264-params:v:" + i, "scenecut=0:open-gop=0"});
  }
  return o;
}

/// The ffmpeg CLI doing Kiln's ladder in one process: split, scales, libx264 with Kiln's x264
/// settings, AAC, and the dash muxer writing CMAF for HLS and DASH.
std::vector<std::string> ffmpeg_ladder(const std::string& src, const std::vector<PlannedRendition>& plan,
                                       const Ladder& l, double fps, const fs::path& out) {
  // Each size scaled once and split among its codecs, as kiln does.
  std::vector<std::vector<size_t>> sizes;
  for (size_t i = 0; i < plan.size(); ++i) {
    auto same = std::find_if(sizes.begin(), sizes.end(), [&](const auto& g) {
      return plan[g.front()].width == plan[i].width && plan[g.front()].height == plan[i].height;
    });
    if (same == sizes.end()) sizes.push_back({i});
    else same->push_back(i);
  }
  std::string graph = fmt::format("[0:v]split={}", sizes.size());
  for (size_t g = 0; g < sizes.size(); ++g) graph += fmt::format("[s{}]", g);
  for (size_t g = 0; g < sizes.size(); ++g) {
    const auto& first = plan[sizes[g].front()];
    graph += fmt::format(";[s{}]scale={}:{}:flags=bicubic,format=yuv420p,setsar=1", g, first.width, first.height);
    if (sizes[g].size() == 1) {
      graph += fmt::format("[v{}]", sizes[g].front());
      continue;
    }
    graph += fmt::format(",split={}", sizes[g].size());
    for (size_t i : sizes[g]) graph += fmt::format("[v{}]", i);
  }
  std::vector<std::string> c = {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", src,
                                "-filter_complex", graph};
  for (size_t i = 0; i < plan.size(); ++i) c.insert(c.end(), {"-map", fmt::format("[v{}]", i)});
  c.insert(c.end(), {"-map", "0:a?", "-forced-idr", "1",
                     "-force_key_frames", fmt::format("expr:gte(t,n_forced*{})", l.gop_seconds)});
  for (size_t i = 0; i < plan.size(); ++i) {
    auto o = encoder_opts(plan[i], static_cast<int>(i), l, fps);
    c.insert(c.end(), o.begin(), o.end());
  }
  std::string sets;
  for (size_t i = 0; i <= plan.size(); ++i) sets += fmt::format("{}id={},streams={}", i ? " " : "", i, i);
  c.insert(c.end(), {"-c:a", "aac", "-b:a", std::to_string(l.audio.bitrate / 1000) + "k", "-ac", "2", "-ar", "48000",
                     "-f", "dash", "-seg_duration", fmt::format("{}", l.segment_seconds), "-use_template", "1",
                     "-use_timeline", "1", "-hls_playlist", "1", "-adaptation_sets", sets,
                     (out / "manifest.mpd").string()});
  return c;
}

/// Naive: one ffmpeg per rendition, each decoding the source again. Each writes its own init
/// segment and media segments (r<i>-init.mp4, r<i>-NNNNN.m4s): they share one folder.
std::vector<std::vector<std::string>> naive_ladder(const std::string& src, const std::vector<PlannedRendition>& plan,
                                                   const Ladder& l, double fps, const fs::path& out) {
  std::vector<std::vector<std::string>> cmds;
  for (size_t i = 0; i < plan.size(); ++i) {
    std::vector<std::string> c = {"ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", src,
                                  "-vf", fmt::format("scale={}:{}:flags=bicubic,format=yuv420p,setsar=1", plan[i].width, plan[i].height),
                                  "-c:v", "libx264", "-x264-params", "scenecut=0:open-gop=0", "-forced-idr", "1",
                                  "-force_key_frames", fmt::format("expr:gte(t,n_forced*{})", l.gop_seconds)};
    auto o = encoder_opts(plan[i], 0, l, fps);
    c.insert(c.end(), o.begin(), o.end());
    c.insert(c.end(), {"-c:a", "aac", "-b:a", std::to_string(l.audio.bitrate / 1000) + "k", "-ac", "2",
                       "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", fmt::format("{}", l.segment_seconds),
                       "-hls_fmp4_init_filename", fmt::format("r{}-init.mp4", i),
                       "-hls_segment_filename", (out / fmt::format("r{}-%05d.m4s", i)).string(),
                       "-hls_playlist_type", "vod", (out / fmt::format("r{}.m3u8", i)).string()});
    cmds.push_back(c);
  }
  return cmds;
}

/// GStreamer: decodebin once, tee, videoscale + x264enc per rendition into fragmented MP4.
/// It does less work than kiln (video only, no HLS/DASH manifests); the table says so.
std::vector<std::string> gstreamer_ladder(const std::string& src, const std::vector<PlannedRendition>& plan,
                                          const Ladder& l, double fps, const fs::path& out) {
  std::string p = fmt::format("filesrc location={} ! decodebin ! videoconvert ! tee name=t", shell_quote(src));
  for (size_t i = 0; i < plan.size(); ++i)
    p += fmt::format(" t. ! queue ! videoscale ! video/x-raw,width={},height={} ! x264enc bitrate={} speed-preset={} "
                     "key-int-max={} ! mp4mux fragment-duration={} ! filesink location={}",
                     plan[i].width, plan[i].height, plan[i].spec.video_bitrate / 1000, plan[i].spec.x264_preset,
                     gop_frames(l, fps), static_cast<int>(l.segment_seconds * 1000),
                     shell_quote((out / fmt::format("r{}.mp4", i)).string()));
  return {"sh", "-c", "gst-launch-1.0 -q " + p};
}

double probe_duration(const std::string& path, int64_t* frames, int* width, int* height, double* fps) {
  std::string cmd = "ffprobe -v error -select_streams v:0 -count_packets -show_entries "
                    "stream=width,height,avg_frame_rate,nb_read_packets:format=duration -of json " + shell_quote(path);
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string text;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p.get())) text += buf;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  const auto& s = j["streams"][0];
  *width = s.value("width", 0);
  *height = s.value("height", 0);
  *frames = std::stoll(s.value("nb_read_packets", std::string("0")));
  std::string r = s.value("avg_frame_rate", std::string("30/1"));
  auto slash = r.find('/');
  *fps = slash == std::string::npos ? std::stod(r) : std::stod(r.substr(0, slash)) / std::max(1.0, std::stod(r.substr(slash + 1)));
  return std::stod(j["format"].value("duration", std::string("0")));
}

/// An init segment followed by the media segments in `dir` whose names start with `prefix`
/// and end with `ext`, in name order: one playable fragmented MP4 once concatenated.
std::vector<fs::path> segment_files(const fs::path& dir, const fs::path& init, const std::string& prefix,
                                    const std::string& ext) {
  std::vector<fs::path> segs;
  if (!fs::exists(init)) return {};
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (e.path() != init && name.rfind(prefix, 0) == 0 && e.path().extension() == ext) segs.push_back(e.path());
  }
  std::sort(segs.begin(), segs.end());
  segs.insert(segs.begin(), init);
  return segs;
}

/// SSIM and PSNR of one rendition (its files, concatenated) against a lanczos downscale of the
/// source made by zimg, which places 4:2:0 chroma where the source says it is (H.264's default
/// is left-sited). swscale in FFmpeg 5.1 assumes centred chroma whatever the source says, so a
/// swscale reference favours the tool that makes the same assumption and penalises the one that
/// does not, by up to 0.0024 SSIM at 360p (bench/RESULTS.md has both measured). NaN when the
/// files are missing or unreadable.
std::pair<double, double> quality(const std::string& src, const std::vector<fs::path>& parts, int w, int h,
                                  const fs::path& joined) {
  if (parts.empty()) return {NAN, NAN};
  {
    std::ofstream out(joined, std::ios::binary);
    for (const auto& p : parts) out << std::ifstream(p, std::ios::binary).rdbuf();
  }
  std::string cmd = fmt::format(
      "ffmpeg -hide_banner -nostdin -i {} -i {} -lavfi \"[0:v]setpts=PTS-STARTPTS,split[a][b];[1:v]zscale=w={}:h={}:filter=lanczos,"
      "format=yuv420p,setpts=PTS-STARTPTS,split[c][d];[a][c]ssim;[b][d]psnr\" -f null - 2>&1",
      shell_quote(joined.string()), shell_quote(src), w, h);
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string text;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p.get())) text += buf;
  std::smatch m;
  double ssim = NAN, psnr = NAN;
  if (std::regex_search(text, m, std::regex(R"(SSIM.*All:([0-9.]+))"))) ssim = std::stod(m[1]);
  if (std::regex_search(text, m, std::regex(R"(PSNR.*average:([0-9.inf]+))"))) psnr = m[1] == "inf" ? INFINITY : std::stod(m[1]);
  fs::remove(joined);
  return {ssim, psnr};
}

nlohmann::json machine_info(const std::vector<Device>& devices) {
  std::string cpu;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& d : devices)
    gpus.push_back({{"backend", d.backend}, {"id", d.id}, {"model", d.model}, {"driver", d.driver}, {"health", d.health}});
  return {{"cpu", cpu}, {"threads", sysconf(_SC_NPROCESSORS_ONLN)},
          {"memoryMiB", sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGE_SIZE) / 1024},
          {"kernel", std::string(u.release)}, {"kiln", kVersion}, {"ffmpeg", av_version_info()},
          {"libavcodec", LIBAVCODEC_IDENT}, {"devices", gpus}};
}

// A failed step ends the run with its exit code, after clearing the progress bar.
#define KILN_RETURN_EXIT(expr)                               \
  do {                                                       \
    ::kiln::Status st_ = (expr);                             \
    if (!st_.is_ok()) {                                      \
      bar_.finish();                                         \
      logger("bench")->error("{}", st_.message());           \
      return exit_code(st_.code());                          \
    }                                                        \
  } while (0)

class Bench {
 public:
  Bench(const BenchOptions& o, std::string command) : o_(o), command_(std::move(command)) {}

  int run() {
    auto log = logger("bench");
    out_ = o_.out.empty() ? fs::path("bench-out") / fmt::format("run-{}", std::time(nullptr)) : fs::path(o_.out);
    fs::create_directories(out_ / "work");
    KILN_RETURN_EXIT(prepare_source());
    auto topology = load_topology("");
    if (topology) devices_ = discover_devices(*topology);
    report_["machine"] = machine_info(devices_);
    report_["command"] = command_;
    report_["source"] = {{"path", src_}, {"frames", frames_}, {"seconds", seconds_}, {"width", width_},
                         {"height", height_}, {"fps", fps_}};
    report_["runsPerPoint"] = o_.runs;
    total_steps_ = count_steps();
    if (o_.mode == "single" || o_.mode == "all") KILN_RETURN_EXIT(single());
    if (o_.extras) KILN_RETURN_EXIT(extras_cost());
    if (o_.mode == "threads" || o_.mode == "all") KILN_RETURN_EXIT(threads_sweep());
    if (o_.mode == "sweep" || o_.mode == "all") KILN_RETURN_EXIT(concurrency_sweep());
    bar_.finish();
    write_outputs();
    return 0;
  }

 private:

  Status prepare_source() {
    if (!o_.input.empty()) {
      src_ = fs::absolute(o_.input).string();
    } else {
      const SourceSpec* spec = nullptr;
      for (const auto& s : kSources)
        if (o_.source == s.name) spec = &s;
      if (!spec) return {Code::kUsage, fmt::format("--source {}: 1080p30, 2160p30 or 720p60", o_.source)};
      fs::path p = fs::path("bench-out") / fmt::format("source-{}-{}s.mp4", spec->name, o_.duration);
      fs::create_directories(p.parent_path());
      if (!fs::exists(p)) {
        logger("bench")->info("generating {} ({} s)", p.string(), o_.duration);
        std::string cmd = fmt::format(
            "ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i testsrc2=s={}x{}:r={}:d={} -f lavfi "
            "-i sine=f=440:r=48000:d={} -ac 2 -c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p -c:a aac -shortest {}",
            spec->width, spec->height, spec->fps, o_.duration, o_.duration, shell_quote(p.string() + ".tmp.mp4"));
        if (std::system(cmd.c_str()) != 0) return {Code::kIo, "generating the source with the ffmpeg CLI failed"};
        fs::rename(p.string() + ".tmp.mp4", p);
      }
      src_ = fs::absolute(p).string();
    }
    seconds_ = probe_duration(src_, &frames_, &width_, &height_, &fps_);
    if (frames_ <= 0 || seconds_ <= 0) return {Code::kInputNotMedia, fmt::format("cannot read '{}' as video", src_)};
    ladder_ = default_ladder();
    if (!o_.ladder.empty()) {
      auto l = select_renditions(ladder_, o_.ladder);
      if (!l) return l.status();
      ladder_ = *l;
    }
    if (!o_.codecs.empty()) {
      ladder_.codecs.clear();
      std::stringstream in(o_.codecs);
      for (std::string c; std::getline(in, c, ',');)
        if (!c.empty()) ladder_.codecs.push_back(c);
      KILN_RETURN_IF_ERROR(validate_ladder(ladder_));
    }
    VideoStreamInfo v;
    v.width = width_;
    v.height = height_;
    plan_ = plan_ladder(ladder_, v);
    return Status::ok();
  }

  std::vector<std::string> peers() const {
    std::vector<std::string> out;
    std::stringstream ss(o_.peers);
    for (std::string p; std::getline(ss, p, ',');) if (!p.empty()) out.push_back(p);
    return out;
  }

  int count_steps() const {
    int n = 0;
    if (o_.mode == "single" || o_.mode == "all") n += o_.runs * (1 + static_cast<int>(peers().size()));
    if (o_.mode == "threads" || o_.mode == "all") n += o_.runs * 3;
    if (o_.extras) n += o_.runs * 2;
    if (o_.mode == "sweep" || o_.mode == "all") {
      int targets = 0;
      for (const auto& d : devices_)
        if (d.usable && !d.cpu_emulated && (o_.devices == "all" || o_.devices.find(d.backend) != std::string::npos))
          ++targets;
      n += o_.runs * o_.max_concurrency * targets;
      if (targets >= 2) n += o_.runs * (o_.max_concurrency * targets + 1);  // the placed sweep, at most
    }
    return std::max(n, 1);
  }

  void step(const std::string& what) {
    ++done_steps_;
    Progress p;
    p.phase = "transcoding";
    p.percent = std::min(100.0, 100.0 * done_steps_ / total_steps_);
    auto elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    p.eta_seconds = done_steps_ ? elapsed / done_steps_ * (total_steps_ - done_steps_) : -1;
    if (tty_) bar_.update(p);
    else logger("bench")->info("{}/{} done ({}), ETA {:.0f} s", done_steps_, total_steps_, what, p.eta_seconds);
  }

  std::vector<std::string> kiln_cmd(const fs::path& out, int threads, const Device* device) const {
    std::vector<std::string> c = {self_exe(), "transcode", src_, "-o", out.string(), "--overwrite", "--json",
                                  "--log-level", "error"};
    if (!o_.ladder.empty()) c.insert(c.end(), {"--ladder", o_.ladder});
    if (!o_.codecs.empty()) c.insert(c.end(), {"--codecs", o_.codecs});
    if (threads) c.insert(c.end(), {"--threads", std::to_string(threads)});
    if (device && device->backend == "software") c.insert(c.end(), {"--backend", "software"});
    else if (device) c.insert(c.end(), {"--backend", device->backend, "--device", device->id});
    return c;
  }

  /// N concurrent kiln jobs; stage times from their results.
  Result<Run> run_kiln(int n, int threads, const Device* device) {
    return run_kiln_on(std::vector<const Device*>(static_cast<size_t>(n), device), threads);
  }

  /// One concurrent kiln job per entry, each on its device (nullptr: as kiln chooses).
  Result<Run> run_kiln_on(const std::vector<const Device*>& jobs, int threads) {
    const int n = static_cast<int>(jobs.size());
    const Device* device = jobs.empty() ? nullptr : jobs.front();
    std::vector<std::vector<std::string>> cmds;
    std::vector<std::string> outs;
    for (int i = 0; i < n; ++i) {
      fs::path dir = out_ / "work" / fmt::format("kiln-{}", i);
      cmds.push_back(kiln_cmd(dir, threads, jobs[i]));
      outs.push_back((out_ / "work" / fmt::format("kiln-{}.json", i)).string());
    }
    auto r = run_processes(cmds, outs);
    if (!r) return r;
    r->tool = device ? fmt::format("kiln:{}:{}", device->backend, device->id) : "kiln";
    r->concurrency = n;
    r->threads = threads;
    r->frames = frames_;
    r->media_seconds = seconds_;
    nlohmann::json stages = {{"decode", 0.0}, {"scale", 0.0}, {"encode", 0.0}, {"package", 0.0}};
    for (const auto& f : outs) {
      auto j = nlohmann::json::parse(std::ifstream(f), nullptr, false);
      if (j.is_discarded()) continue;
      for (auto& [k, v] : stages.items()) v = v.get<double>() + j["detail"]["stageSeconds"].value(k, 0.0) / n;
    }
    r->stages = stages;
    return r;
  }

  Result<Run> run_peer(const std::string& peer) {
    fs::path dir = out_ / "work" / peer;
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<std::vector<std::string>> cmds;
    if (peer == "ffmpeg") cmds = {ffmpeg_ladder(src_, plan_, ladder_, fps_, dir)};
    else if (peer == "naive") cmds = naive_ladder(src_, plan_, ladder_, fps_, dir);
    else if (peer == "gstreamer") cmds = {gstreamer_ladder(src_, plan_, ladder_, fps_, dir)};
    else return Status(Code::kUsage, fmt::format("unknown peer '{}' (ffmpeg, naive, gstreamer)", peer));
    nlohmann::json lines = nlohmann::json::array();  // exactly what ran, to repeat or profile it by hand
    for (const auto& c : cmds) {
      std::string line;
      for (const auto& a : c) {
        if (!line.empty()) line += ' ';
        line += shell_quote(a);
      }
      lines.push_back(line);
    }
    report_["peerCommands"][peer] = lines;
    auto r = run_processes(cmds, {});
    if (!r) return r;
    r->tool = peer;
    r->frames = frames_;
    r->media_seconds = seconds_;
    return r;
  }

  /// The files of rendition `i` as `tool` wrote them in its last run.
  std::vector<fs::path> rendition_files(const std::string& tool, size_t i) const {
    const std::string& name = plan_[i].folder;
    if (tool == "kiln") {
      fs::path dir = out_ / "work" / "kiln-0" / name;
      return fs::exists(dir) ? segment_files(dir, dir / "init.mp4", "", ".m4s") : std::vector<fs::path>{};
    }
    fs::path dir = out_ / "work" / tool;
    if (!fs::exists(dir)) return {};
    if (tool == "ffmpeg")  // the dash muxer's default names
      return segment_files(dir, dir / fmt::format("init-stream{}.m4s", i), fmt::format("chunk-stream{}-", i), ".m4s");
    if (tool == "naive") return segment_files(dir, dir / fmt::format("r{}-init.mp4", i), fmt::format("r{}-", i), ".m4s");
    fs::path whole = dir / fmt::format("r{}.mp4", i);  // gstreamer: one fragmented MP4
    return fs::exists(whole) ? std::vector<fs::path>{whole} : std::vector<fs::path>{};
  }

  /// Why `peer` cannot run here, or "" when it can.
  static std::string peer_unavailable(const std::string& peer) {
    if ((peer == "ffmpeg" || peer == "naive") && !on_path("ffmpeg")) return "the ffmpeg CLI is not installed (apt install ffmpeg)";
    if (peer == "gstreamer") {
      const char* fix = " (apt install gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-libav)";
      if (!on_path("gst-launch-1.0") || !on_path("gst-inspect-1.0")) return std::string("gst-launch-1.0 is not installed") + fix;
      for (const char* element : {"x264enc", "mp4mux", "decodebin", "videoscale"})
        if (std::system(fmt::format("gst-inspect-1.0 {} >/dev/null 2>&1", element).c_str()) != 0)
          return fmt::format("the GStreamer element {} is not installed{}", element, fix);
    }
    return "";
  }

  /// What a peer does compared with kiln, so a faster peer doing less is not read as a win.
  std::string peer_work(const std::string& peer) const {
    if (peer == "ffmpeg") {
      std::vector<std::string> encoders;
      for (const auto& c : ladder_.codecs)
        if (const VideoCodecInfo* info = video_codec(c)) encoders.push_back(info->software_encoder);
      return fmt::format("same work: one decode, scales, {}, AAC, CMAF for HLS and DASH",
                         encoders.empty() ? "libx264" : fmt::format("{}", fmt::join(encoders, " + ")));
    }
    if (peer == "naive") return "more work: one process per rendition, each decodes the source and encodes AAC";
    if (peer == "gstreamer") return "LESS work: video only (no audio encode), fragmented MP4 without HLS/DASH manifests";
    return "";
  }

  Status single() {
    auto log = logger("bench");
    std::vector<std::string> active;
    nlohmann::json peer_report = nlohmann::json::object();
    for (const auto& p : peers()) {
      if (p != "ffmpeg" && p != "naive" && p != "gstreamer")
        return Status(Code::kUsage, fmt::format("unknown peer '{}' (ffmpeg, naive, gstreamer)", p));
      peer_report[p] = {{"work", peer_work(p)}, {"ran", false}};
      std::string why = peer_unavailable(p);
      if (!why.empty()) {
        log->warn("peer {} requested but cannot run: {}", p, why);
        peer_report[p]["why"] = why;
        continue;
      }
      active.push_back(p);
    }
    std::map<std::string, std::vector<Run>> by_tool;
    std::map<std::string, std::vector<int>> rounds_of;  // which rounds each tool completed
    for (int round = 0; round < o_.runs; ++round) {
      // Alternate the order every round: kiln first, then last.
      std::vector<std::string> order = active;
      if (round % 2 == 0) order.insert(order.begin(), "kiln");
      else order.push_back("kiln");
      for (const auto& tool : order) {
        if (tool != "kiln" && peer_report[tool].contains("why")) continue;  // failed in an earlier round
        auto r = tool == "kiln" ? run_kiln(1, 0, nullptr) : run_peer(tool);
        if (!r) {
          if (tool == "kiln") return r.status();
          // A peer that is installed but fails (a missing plugin, an option its version lacks)
          // is reported, not fatal: kiln's figures still stand.
          log->warn("peer {} failed: {}", tool, r.status().message());
          peer_report[tool]["why"] = fmt::format("failed: {}", r.status().message());
          by_tool.erase(tool);
          step(tool);
          continue;
        }
        by_tool[tool].push_back(*r);
        rounds_of[tool].push_back(round);
        runs_.push_back(*r);
        step(tool);
      }
    }
    auto s = [](const bench::Summary& x) { return nlohmann::json{{"median", x.median}, {"min", x.min}, {"max", x.max}}; };
    nlohmann::json summary;
    for (const auto& [tool, rs] : by_tool) {
      std::vector<double> wall, cpu, cpu_s, busy, rss, fps;
      for (const auto& r : rs) {
        wall.push_back(r.wall);
        cpu.push_back(bench::cpu_per_frame(r));
        cpu_s.push_back(r.cpu);
        busy.push_back(r.wall > 0 ? r.cpu / r.wall : 0);
        rss.push_back(r.rss_mib);
        fps.push_back(bench::aggregate_fps(r));
      }
      summary[tool] = {{"wallSeconds", s(bench::summarize(wall))}, {"cpuSecondsPerFrame", s(bench::summarize(cpu))},
                       {"cpuSeconds", s(bench::summarize(cpu_s))}, {"coresBusy", s(bench::summarize(busy))},
                       {"peakRssMiB", s(bench::summarize(rss))}, {"fps", s(bench::summarize(fps))},
                       {"speed", bench::summarize(wall).median > 0 ? seconds_ / bench::summarize(wall).median : 0}};
      if (tool == "kiln") summary[tool]["stageSeconds"] = rs.back().stages;
      else {
        peer_report[tool]["ran"] = true;
        summary[tool]["work"] = peer_work(tool);
      }
    }
    nlohmann::json ratios, paired;
    double kiln_wall = summary["kiln"]["wallSeconds"]["median"];
    for (const auto& [tool, rs] : by_tool) {
      if (tool == "kiln") continue;
      ratios[tool + "/kiln wall"] = summary[tool]["wallSeconds"]["median"].get<double>() / kiln_wall;
      // kiln/peer per round (the two ran back to back), then the median over rounds.
      std::vector<double> wall_ratio, cpu_ratio;
      for (size_t k = 0; k < rs.size(); ++k) {
        const Run& kr = by_tool["kiln"][rounds_of[tool][k]];
        wall_ratio.push_back(kr.wall / rs[k].wall);
        cpu_ratio.push_back(rs[k].cpu > 0 ? kr.cpu / rs[k].cpu : 0);
      }
      paired["kiln/" + tool] = {{"wall", s(bench::summarize(wall_ratio))}, {"cpu", s(bench::summarize(cpu_ratio))}};
    }
    report_["single"] = summary;
    report_["ratios"] = ratios;
    report_["pairedRatios"] = paired;
    report_["peers"] = peer_report;
    if (o_.quality) {
      nlohmann::json q;
      for (const auto& [tool, rs] : by_tool)
        for (size_t i = 0; i < plan_.size(); ++i) {
          auto [ssim, psnr] = quality(src_, rendition_files(tool, i), plan_[i].width, plan_[i].height,
                                      out_ / "work" / fmt::format("{}-{}-joined.mp4", tool, i));
          q[tool][plan_[i].folder] = {{"ssim", ssim}, {"psnr", psnr}};
        }
      report_["quality"] = q;
    }
    return Status::ok();
  }

  /// What the MP4, poster, thumbnails and storyboards cost on top of the ladder alone: kiln
  /// with and without them, alternated, the ratio per round (goal: under 1.05 wall).
  Status extras_cost() {
    const std::string top = plan_.empty() ? "720p" : plan_.front().spec.name;
    const std::vector<std::string> extras = {"--mp4", top, "--thumbnails", "2", "--poster", "auto"};
    std::vector<double> wall_ratio, cpu_ratio, plain_wall, extra_wall;
    for (int round = 0; round < o_.runs; ++round) {
      Run plain, with;
      for (int k = 0; k < 2; ++k) {
        const bool extra = (k == 1) != (round % 2 == 1);  // alternate which goes first
        auto cmd = kiln_cmd(out_ / "work" / "kiln-extras", 0, nullptr);
        if (extra) cmd.insert(cmd.end(), extras.begin(), extras.end());
        auto r = run_processes({cmd}, {});
        if (!r) return r.status();
        (extra ? with : plain) = *r;
        step(extra ? "kiln + extras" : "kiln");
      }
      wall_ratio.push_back(with.wall / plain.wall);
      cpu_ratio.push_back(plain.cpu > 0 ? with.cpu / plain.cpu : 0);
      plain_wall.push_back(plain.wall);
      extra_wall.push_back(with.wall);
    }
    auto s = [](const std::vector<double>& v) {
      auto x = bench::summarize(v);
      return nlohmann::json{{"median", x.median}, {"min", x.min}, {"max", x.max}};
    };
    report_["extras"] = {{"extras", fmt::format("{}", fmt::join(extras, " "))}, {"plainWallSeconds", s(plain_wall)},
                         {"withExtrasWallSeconds", s(extra_wall)}, {"wallRatio", s(wall_ratio)},
                         {"cpuRatio", s(cpu_ratio)}};
    return Status::ok();
  }

  Status threads_sweep() {
    nlohmann::json out = nlohmann::json::array();
    std::stringstream ss(o_.threads_list);
    for (std::string t; std::getline(ss, t, ',');) {
      int threads = std::stoi(t);
      std::vector<double> wall;
      for (int i = 0; i < o_.runs; ++i) {
        auto r = run_kiln(1, threads, nullptr);
        if (!r) return r.status();
        runs_.push_back(*r);
        wall.push_back(r->wall);
        step(fmt::format("threads {}", threads));
      }
      auto s = bench::summarize(wall);
      out.push_back({{"threads", threads}, {"wallSeconds", {{"median", s.median}, {"min", s.min}, {"max", s.max}}},
                     {"fps", frames_ / s.median}});
    }
    report_["threads"] = out;
    return Status::ok();
  }

  /// Output pixels of one frame of the ladder: what a device's capacity is counted in.
  double pixels_per_frame() const {
    double px = 0;
    for (const auto& p : plan_) px += static_cast<double>(p.width) * p.height;
    return px;
  }

  Status concurrency_sweep() {
    std::vector<const Device*> targets;
    for (const auto& d : devices_) {
      if (!d.usable || d.cpu_emulated) continue;
      if (o_.devices == "all" || o_.devices.find(d.backend) != std::string::npos) targets.push_back(&d);
    }
    nlohmann::json sweeps = nlohmann::json::array();
    std::vector<bench::DeviceDensity> densities;
    std::vector<double> single_fps;  // one job alone on each device
    for (const Device* d : targets) {
      // A backend with a per-device session cap (NVENC) is asked for it first: sessions are
      // opened until the driver refuses, so the recommendation never exceeds it.
      int session_limit = 0;
      nlohmann::json probed;
      for (const auto& b : backend_table())
        if (b.name == d->backend && b.count_sessions) {
          auto limit = b.count_sessions(*d, 64);
          if (!limit) {
            probed = {{"error", limit.status().message()}};
          } else {
            probed = {{"opened", limit->opened}, {"refused", limit->refused}, {"note", limit->note}};
            if (limit->refused) session_limit = limit->opened;
          }
          logger("bench")->info("{} {}: session probe: {}", d->backend, d->id,
                                limit ? limit->note : limit.status().message());
        }
      std::vector<bench::SweepPoint> points;
      for (int n = 1; n <= o_.max_concurrency; ++n) {
        std::vector<double> wall;
        Run last;
        for (int i = 0; i < o_.runs; ++i) {
          auto r = run_kiln(n, 0, d);
          if (!r) return r.status();
          runs_.push_back(*r);
          wall.push_back(r->wall);
          last = *r;
          step(fmt::format("{} x{}", d->backend, n));
        }
        last.wall = bench::summarize(wall).median;
        points.push_back({n, bench::aggregate_fps(last), bench::per_job_speed(last)});
        if (bench::sweep_should_stop(points)) break;
      }
      nlohmann::json pts = nlohmann::json::array();
      double best_fps = 0;
      for (const auto& p : points) {
        pts.push_back({{"concurrency", p.concurrency}, {"aggregateFps", p.aggregate_fps}, {"perJobSpeed", p.per_job_speed}});
        best_fps = std::max(best_fps, p.aggregate_fps);
      }
      int dens = bench::density(points);
      single_fps.push_back(points.front().aggregate_fps);
      nlohmann::json scaling;
      for (const auto& p : points)
        if (p.concurrency >= 2) scaling[std::to_string(p.concurrency)] = p.aggregate_fps / single_fps.back();
      const double capacity = best_fps * pixels_per_frame();
      sweeps.push_back({{"backend", d->backend}, {"device", d->id}, {"points", pts}, {"density", dens},
                        {"aggregateOverSingle", scaling}, {"capacityPixelsPerSecond", capacity},
                        {"sessionProbe", probed}});
      series_.push_back({fmt::format("{} {}", d->backend, d->id), points});
      densities.push_back({d->backend, d->id, d->pci_address, dens, static_cast<int>(plan_.size()), capacity,
                           session_limit});
    }
    report_["sweep"] = sweeps;
    measured_ = measurements(densities);
    if (targets.size() >= 2) KILN_RETURN_IF_ERROR(placed_sweep(targets, single_fps));
    recommendation_ = bench::recommend_snippet(densities);
    report_["recommendation"] = recommendation_;
    return Status::ok();
  }

  scheduler::Measurements measurements(const std::vector<bench::DeviceDensity>& densities) const {
    scheduler::Measurements m;
    char when[32] = {};
    std::time_t now = std::time(nullptr);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    m.measured_at = when;
    m.command = command_;
    const std::string ladder = fmt::format("{} of a {}x{} {:.2f} fps source", o_.ladder.empty() ? "default ladder" : o_.ladder,
                                           width_, height_, fps_);
    for (const auto& d : densities) {
      scheduler::MeasuredDevice md;
      md.backend = d.backend;
      md.id = d.id;
      md.pci_address = d.pci_address;
      for (const auto& dev : devices_)
        if (dev.backend == d.backend && dev.id == d.id) md.model = dev.model;
      md.capacity = d.capacity;
      md.jobs = d.density;
      md.sessions = d.backend == "software" ? 0 : bench::measured_sessions(d);
      md.ladder = ladder;
      m.devices[d.backend + ":" + d.id] = md;
    }
    return m;
  }

  /// Every device at once, placed by the node's own ledger (make_slots with the node config
  /// and the caps just measured): jobs offered from one up to one more than the devices hold
  /// together, so the last point shows a job the ledger refuses instead of oversubscribing.
  Status placed_sweep(const std::vector<const Device*>& targets, const std::vector<double>& single_fps) {
    NodeConfig config;
    if (!o_.node_config.empty()) {
      auto loaded = load_node_config(o_.node_config);
      if (!loaded) return loaded.status();
      config = std::move(loaded).value();
    }
    std::vector<Device> devs;
    std::vector<std::string> keys;
    for (const Device* d : targets) {
      devs.push_back(*d);
      keys.push_back(scheduler::device_key(*d));
    }
    const auto slots = scheduler::make_slots(devs, config, &measured_);
    int room = 0;  // jobs the devices hold together at their caps
    for (const auto& s : slots) {
      const int per_job = static_cast<int>(plan_.size());
      int jobs = s.max_jobs > 0 ? s.max_jobs : s.max_sessions > 0 ? s.max_sessions / per_job : o_.max_concurrency;
      room += std::max(jobs, 0);
    }
    scheduler::Demand demand;
    demand.sessions = static_cast<int>(plan_.size());
    demand.pixels_per_second = output_pixel_rate(plan_, fps_);
    std::vector<bench::PlacedPoint> points;
    nlohmann::json out = nlohmann::json::array();
    for (int offered = 1; offered <= room + 1; ++offered) {
      std::vector<double> wall, slowest;
      bench::PlacedPoint point;
      point.offered = offered;
      point.jobs_per_device.assign(targets.size(), 0);
      point.most_sessions.assign(targets.size(), 0);
      for (int round = 0; round < o_.runs; ++round) {
        scheduler::Ledger ledger(slots);
        std::vector<const Device*> placed;
        std::vector<int> jobs(targets.size(), 0);
        int refused = 0;
        for (int job = 0; job < offered; ++job) {
          auto p = ledger.place(job + 1, demand, keys, nullptr);
          if (!p) {
            ++refused;
            continue;
          }
          const size_t at = std::find(keys.begin(), keys.end(), p->order.front()) - keys.begin();
          placed.push_back(targets[at]);
          ++jobs[at];
        }
        const auto held = ledger.snapshot();
        for (size_t i = 0; i < targets.size(); ++i)
          for (const auto& s : held)
            if (scheduler::device_key(s.device) == keys[i])
              point.most_sessions[i] = std::max(point.most_sessions[i], s.sessions);
        point.refused = refused;
        point.jobs_per_device = jobs;
        if (placed.empty()) return Status(Code::kBusy, "the node's placement refused every job: check the caps");
        auto r = run_kiln_on(placed, 0);
        if (!r) return r.status();
        r->tool = "kiln:placed";
        runs_.push_back(*r);
        wall.push_back(r->wall);
        double worst = 1e9;
        for (double w : r->walls) worst = std::min(worst, w > 0 ? seconds_ / w : 0);
        slowest.push_back(worst);
        step(fmt::format("placed x{}", offered));
      }
      const double w = bench::summarize(wall).median;
      point.aggregate_fps = w > 0 ? frames_ * (offered - point.refused) / w : 0;
      point.slowest_job_speed = bench::summarize(slowest).median;
      points.push_back(point);
      nlohmann::json per = nlohmann::json::array();
      for (size_t i = 0; i < targets.size(); ++i) {
        const auto& s = slots[i];
        per.push_back({{"device", keys[i]}, {"jobs", point.jobs_per_device[i]}, {"mostSessions", point.most_sessions[i]},
                       {"maxSessions", s.max_sessions}, {"maxJobs", s.max_jobs}});
      }
      out.push_back({{"offered", offered}, {"refused", point.refused}, {"aggregateFps", point.aggregate_fps},
                     {"slowestJobSpeed", point.slowest_job_speed}, {"devices", per}});
    }
    double sum_single = 0;
    for (double f : single_fps) sum_single += f;
    report_["placed"] = {{"points", out}, {"sumOfSingleJobFps", sum_single},
                         {"efficiencyAtDensity", bench::placed_efficiency(points, single_fps)},
                         {"capsFrom", o_.node_config.empty() ? "this run's measurements" : o_.node_config}};
    return Status::ok();
  }

  void write_outputs() {
    std::ofstream(out_ / "bench.json") << report_.dump(2) << "\n";
    std::ofstream(out_ / "bench.csv") << bench::to_csv(runs_);
    if (!series_.empty())
      std::ofstream(out_ / "sweep.svg") << bench::sweep_svg(
          series_, fmt::format("kiln bench: {} {}x{} ladder {}", report_["machine"]["cpu"].get<std::string>(), width_,
                               height_, o_.ladder.empty() ? "default" : o_.ladder));
    print_table();
    std::printf("\nfiles: %s, %s%s\n", (out_ / "bench.json").c_str(), (out_ / "bench.csv").c_str(),
                series_.empty() ? "" : (", " + (out_ / "sweep.svg").string()).c_str());
    if (o_.recommend && !recommendation_.empty()) std::printf("\n%s", recommendation_.c_str());
    if (o_.recommend && !measured_.devices.empty()) write_capacity();
  }

  /// The measurements for a node: always beside the report, and where --capacity-file says.
  void write_capacity() {
    auto log = logger("bench");
    const std::string here = (out_ / "capacity.json").string();
    if (auto st = scheduler::save_measurements(here, measured_); !st.is_ok()) log->warn("{}", st.message());
    if (o_.capacity_file.empty()) {
      std::printf("\ncapacity file: %s (a node reads it from [node] capacity_file, default "
                  "/var/lib/kiln/capacity.json; or pass --capacity-file)\n", here.c_str());
      return;
    }
    if (auto st = scheduler::save_measurements(o_.capacity_file, measured_); !st.is_ok()) {
      log->error("{}", st.message());
      return;
    }
    std::printf("\ncapacity file: %s (restart the node to use it)\n", o_.capacity_file.c_str());
  }

  void print_table() {
    std::printf("source: %s (%lld frames, %.1f s, %dx%d @ %.2f fps); machine: %s, %ld threads\n", src_.c_str(),
                static_cast<long long>(frames_), seconds_, width_, height_, fps_,
                report_["machine"]["cpu"].get<std::string>().c_str(), sysconf(_SC_NPROCESSORS_ONLN));
    if (report_.contains("single")) {
      std::printf("\n%-10s %22s %8s %8s %10s %8s %14s %14s\n", "tool", "wall s (min-max)", "fps", "speed", "CPU s",
                  "cores", "cpu ms/frame", "peak RSS MiB");
      for (const auto& [tool, s] : report_["single"].items())
        std::printf("%-10s %8.2f (%5.2f-%5.2f) %8.1f %7.2fx %10.2f %8.2f %14.2f %14.0f\n", tool.c_str(),
                    s["wallSeconds"]["median"].get<double>(), s["wallSeconds"]["min"].get<double>(),
                    s["wallSeconds"]["max"].get<double>(), s["fps"]["median"].get<double>(), s["speed"].get<double>(),
                    s["cpuSeconds"]["median"].get<double>(), s["coresBusy"]["median"].get<double>(),
                    s["cpuSecondsPerFrame"]["median"].get<double>() * 1000, s["peakRssMiB"]["median"].get<double>());
      for (const auto& [peer, p] : report_["peers"].items()) {
        if (p["ran"].get<bool>()) std::printf("  %s: %s\n", peer.c_str(), p["work"].get<std::string>().c_str());
        else std::printf("  %s: NOT RUN: %s\n", peer.c_str(), p.value("why", std::string("?")).c_str());
      }
      for (const auto& [k, v] : report_["ratios"].items()) std::printf("  %s: %.3f\n", k.c_str(), v.get<double>());
      for (const auto& [k, v] : report_["pairedRatios"].items())
        std::printf("  %s per round, median (min-max): wall %.3f (%.3f-%.3f), CPU %.3f (%.3f-%.3f)\n", k.c_str(),
                    v["wall"]["median"].get<double>(), v["wall"]["min"].get<double>(), v["wall"]["max"].get<double>(),
                    v["cpu"]["median"].get<double>(), v["cpu"]["min"].get<double>(), v["cpu"]["max"].get<double>());
      if (report_["single"]["kiln"].contains("stageSeconds"))
        std::printf("  kiln stage seconds: %s\n", report_["single"]["kiln"]["stageSeconds"].dump().c_str());
      if (report_.contains("quality"))
        for (const auto& [tool, per] : report_["quality"].items())
          for (const auto& [name, q] : per.items()) {
            // NaN (an unreadable rendition) is null in JSON.
            auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
            std::printf("  %-10s %-6s SSIM %.5f, PSNR %.2f dB", tool.c_str(), name.c_str(), num(q["ssim"]), num(q["psnr"]));
            const auto& ref = report_["quality"];
            if (tool != "ffmpeg" && ref.contains("ffmpeg") && ref["ffmpeg"].contains(name))
              std::printf(" (SSIM %+.5f vs ffmpeg CLI)", num(q["ssim"]) - num(ref["ffmpeg"][name]["ssim"]));
            std::printf("\n");
          }
    }
    if (report_.contains("extras")) {
      const auto& e = report_["extras"];
      std::printf("\nextras (%s): kiln %.2f s -> %.2f s; with/without per round, median (min-max): wall %.3f (%.3f-%.3f), "
                  "CPU %.3f (%.3f-%.3f); goal wall <= 1.05\n",
                  e["extras"].get<std::string>().c_str(), e["plainWallSeconds"]["median"].get<double>(),
                  e["withExtrasWallSeconds"]["median"].get<double>(), e["wallRatio"]["median"].get<double>(),
                  e["wallRatio"]["min"].get<double>(), e["wallRatio"]["max"].get<double>(),
                  e["cpuRatio"]["median"].get<double>(), e["cpuRatio"]["min"].get<double>(),
                  e["cpuRatio"]["max"].get<double>());
    }
    if (report_.contains("threads"))
      for (const auto& t : report_["threads"])
        std::printf("threads %d: %.2f s, %.1f fps\n", t["threads"].get<int>(), t["wallSeconds"]["median"].get<double>(),
                    t["fps"].get<double>());
    if (report_.contains("sweep"))
      for (const auto& s : report_["sweep"]) {
        std::printf("\nsweep %s %s: density %d, capacity %.3g output pixels/s\n", s["backend"].get<std::string>().c_str(),
                    s["device"].get<std::string>().c_str(), s["density"].get<int>(),
                    s["capacityPixelsPerSecond"].get<double>());
        for (const auto& p : s["points"])
          std::printf("  %d job(s): %7.1f fps aggregate, %5.2fx per job\n", p["concurrency"].get<int>(),
                      p["aggregateFps"].get<double>(), p["perJobSpeed"].get<double>());
      }
    if (report_.contains("placed")) {
      const auto& pl = report_["placed"];
      std::printf("\nplaced by the node's ledger (caps from %s):\n", pl["capsFrom"].get<std::string>().c_str());
      for (const auto& p : pl["points"]) {
        std::string per;
        for (const auto& d : p["devices"])
          per += fmt::format("  {} {} job(s), {}/{} sessions", d["device"].get<std::string>(), d["jobs"].get<int>(),
                             d["mostSessions"].get<int>(), d["maxSessions"].get<int>());
        std::printf("  %d offered, %d refused: %7.1f fps aggregate, slowest job %.2fx;%s\n", p["offered"].get<int>(),
                    p["refused"].get<int>(), p["aggregateFps"].get<double>(), p["slowestJobSpeed"].get<double>(),
                    per.c_str());
      }
      std::printf("  at the density: %.1f%% of the devices' single-job fps summed (%.1f fps)\n",
                  100 * pl["efficiencyAtDensity"].get<double>(), pl["sumOfSingleJobFps"].get<double>());
    }
  }

  const BenchOptions& o_;
  std::string command_;
  fs::path out_;
  std::string src_;
  int64_t frames_ = 0;
  double seconds_ = 0, fps_ = 0;
  int width_ = 0, height_ = 0;
  Ladder ladder_;
  std::vector<PlannedRendition> plan_;
  std::vector<Device> devices_;
  nlohmann::json report_;
  std::vector<Run> runs_;
  std::vector<bench::Series> series_;
  std::string recommendation_;
  scheduler::Measurements measured_;
  bool tty_ = isatty(STDERR_FILENO) != 0;
  ProgressDisplay bar_{tty_};
  int total_steps_ = 1, done_steps_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

std::function<int()> add_bench(CLI::App& app, int argc, char** argv) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure throughput: kiln against the ffmpeg CLI, concurrency, density.");
  cmd->add_option("input", o->input, "a source file (default: a generated source)");
  cmd->add_option("--source", o->source, "generated source: 1080p30, 2160p30 or 720p60");
  cmd->add_option("--duration", o->duration, "generated source length, seconds")->check(CLI::Range(1.0, 600.0));
  cmd->add_option("--runs", o->runs, "runs per point (medians with min and max)")->check(CLI::Range(1, 50));
  cmd->add_option("--ladder", o->ladder, "renditions, e.g. 720p,480p (default: the default preset)");
  cmd->add_option("--mode", o->mode, "single (kiln vs peers), sweep (concurrency, density), threads, or all")
      ->check(CLI::IsMember({"single", "sweep", "threads", "all"}));
  cmd->add_option("--max-concurrency", o->max_concurrency, "sweep up to this many jobs per device")->check(CLI::Range(1, 64));
  cmd->add_option("--threads-list", o->threads_list, "encoder threads per session to try (threads mode)");
  cmd->add_option("--peers", o->peers, "ffmpeg (one-process ladder), naive (one process per rendition), gstreamer");
  cmd->add_option("--devices", o->devices, "sweep these backends (software, all, or names)");
  cmd->add_option("--out", o->out, "where bench.json, bench.csv and sweep.svg go (default bench-out/run-TIME)");
  cmd->add_flag("--recommend", o->recommend,
                "write the measured capacity and sessions per device (capacity.json) and print node.toml lines");
  cmd->add_option("--capacity-file", o->capacity_file,
                  "with --recommend: also write the measurements here (a node's [node] capacity_file)");
  cmd->add_option("--node-config", o->node_config, "node.toml whose rules the placed sweep applies");
  cmd->add_flag("!--no-quality", o->quality, "skip SSIM/PSNR");
  cmd->add_option("--codecs", o->codecs, "the ladder in these codecs (h264,hevc,av1), for kiln and the ffmpeg CLI alike");
  cmd->add_flag("--extras", o->extras,
                "also measure kiln with an MP4, thumbnails, storyboards and a poster against the ladder alone");
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return [o, command] { return Bench(*o, command).run(); };
}

}  // namespace kiln::cli
