#include "pipeline/result_json.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace kiln::pipeline {
namespace {

int64_t ms(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000)); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

nlohmann::json input_details(const MediaInfo& in) {
  if (in.image) return image_input_details(in);
  const auto& v = in.video;
  nlohmann::json video = {
      {"streamIndex", v.index},       {"codec", v.codec},
      {"profile", v.profile},         {"widthInPx", v.width},
      {"heightInPx", v.height},       {"displayWidthInPx", v.display_width()},
      {"displayHeightInPx", v.display_height()},
      {"sampleAspectRatio", std::to_string(v.sar.num) + ":" + std::to_string(v.sar.den)},
      {"frameRate", v.frame_rate.value()}, {"variableFrameRate", v.variable_frame_rate},
      {"rotation", v.rotation},       {"pixelFormat", v.pix_fmt},
      {"bitDepth", v.bit_depth},      {"chromaSubsampling", v.chroma},
      {"fieldOrder", v.field_order},  {"interlaced", v.interlaced},
  };
  nlohmann::json j = {{"uri", in.path},
                      {"container", in.container},
                      {"sizeInBytes", in.size_bytes},
                      {"durationInMs", ms(in.duration_seconds)},
                      {"bitrate", in.bit_rate},
                      {"video", nlohmann::json::array({video})},
                      {"audio", nlohmann::json::array()}};
  if (in.audio)
    j["audio"].push_back({{"streamIndex", in.audio->index},
                          {"codec", in.audio->codec},
                          {"channels", in.audio->channels},
                          {"channelLayout", in.audio->layout},
                          {"sampleRate", in.audio->sample_rate}});
  return j;
}

namespace {

}  // namespace

nlohmann::json result_json(const TranscodeResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : r.renditions)
    outputs.push_back({{"name", o.name},
                       {"outputFilePaths", {r.output_dir + "/" + o.playlist}},
                       {"durationInMs", ms(o.duration_seconds)},
                       {"segmentCount", o.segment_count},
                       {"codecs", o.codecs},
                       {"codec", o.codec},
                       {"encoder", o.encoder},
                       {"videoDetails",
                        {{"widthInPx", o.width},
                         {"heightInPx", o.height},
                         {"frameRate", o.frame_rate},
                         {"targetBitrate", o.target_bitrate},
                         {"averageBitrate", o.average_bitrate},
                         {"peakBitrate", o.peak_bitrate}}}});
  if (r.audio)
    outputs.push_back({{"name", "audio"},
                       {"outputFilePaths", {r.output_dir + "/" + r.audio->playlist}},
                       {"durationInMs", ms(r.audio->duration_seconds)},
                       {"segmentCount", r.audio->segment_count},
                       {"codecs", r.audio->codecs},
                       {"audioDetails",
                        {{"channels", r.audio->channels},
                         {"sampleRate", r.audio->sample_rate},
                         {"targetBitrate", r.audio->target_bitrate},
                         {"averageBitrate", r.audio->average_bitrate}}}});
  nlohmann::json group = {{"type", "CMAF_GROUP"},
                          {"outputDirectory", r.output_dir},
                          {"playlistFilePaths", {r.hls_master, r.dash_manifest}},
                          {"outputDetails", outputs}};
  if (r.playback)
    group["playbackUrls"] = {{"hls", r.playback->hls}, {"dash", r.playback->dash}, {"expiresAt", r.playback->expires_at}};
  nlohmann::json groups = nlohmann::json::array({group});
  if (!r.mp4.empty()) {
    // As MediaConvert's file group: one progressive file per output.
    nlohmann::json files = nlohmann::json::array();
    for (const auto& m : r.mp4)
      files.push_back({{"name", m.name},
                       {"outputFilePaths", {r.output_dir + "/" + m.file}},
                       {"durationInMs", ms(m.duration_seconds)},
                       {"sizeInBytes", m.bytes},
                       {"remuxOf", m.remux ? nlohmann::json(m.name) : nlohmann::json(nullptr)},
                       {"videoDetails", {{"widthInPx", m.width}, {"heightInPx", m.height}}}});
    groups.push_back({{"type", "FILE_GROUP"}, {"outputDirectory", r.output_dir + "/" + std::filesystem::path(r.mp4.front().file).parent_path().string()}, {"outputDetails", files}});
  }
  const auto& im = r.images;
  nlohmann::json images = nlohmann::json::object();
  if (!im.poster.empty())
    images["poster"] = {{"filePath", r.output_dir + "/" + im.poster}, {"widthInPx", im.poster_width},
                        {"heightInPx", im.poster_height}, {"atSeconds", im.poster_seconds}};
  if (!im.thumbnails.empty()) {
    nlohmann::json sprites = nlohmann::json::array();
    for (const auto& s : im.sprites) sprites.push_back(r.output_dir + "/" + s);
    images["thumbnails"] = {{"count", im.thumbnails.size()},
                            {"intervalSeconds", im.interval_seconds},
                            {"first", r.output_dir + "/" + im.thumbnails.front()},
                            {"widthInPx", im.tile_width},
                            {"heightInPx", im.tile_height},
                            {"sprites", sprites},
                            {"tiles", fmt::format("{}x{}", im.columns, im.rows)},
                            {"webvtt", r.output_dir + "/" + im.vtt}};
  }
  nlohmann::json warnings = nlohmann::json::array();
  for (const auto& w : r.warnings) warnings.push_back({{"message", w}});
  nlohmann::json out = {
      {"version", "0"},
      {"source", "kiln"},
      {"detail-type", "MediaConvert Job State Change"},
      {"detail",
       {{"timestamp", now_ms()},
        {"status", "COMPLETE"},
        {"inputDetails", nlohmann::json::array({input_details(r.input)})},
        {"outputGroupDetails", groups},
        {"accelerationStatus", r.accelerated ? "ACCELERATED" : "NOT_ACCELERATED"},
        {"accelerationReason", r.acceleration_reason},
        {"backend", r.backend},
        {"recipe", r.variant},
        {"stages", {{"decode", {{"ranOn", r.decode_ran_on}}},
                    {"scale", {{"ranOn", r.scale_ran_on}}},
                    {"encode", {{"ranOn", r.encode_ran_on}, {"encoder", r.encoder}}}}},
        {"device", r.device},
        {"placement", {{"why", r.placement}, {"boundCpus", r.bound_cpus}, {"boundNumaNode", r.bound_numa},
                       {"binding", r.binding}}},
        {"images", images},
        {"fallbacks", r.fallbacks},
        {"framesDecoded", r.frames},
        {"corruptPacketsSkipped", r.corrupt_packets},
        {"elapsedSeconds", r.elapsed_seconds},
        {"stageSeconds", {{"decode", r.decode_seconds}, {"scale", r.scale_seconds},
                          {"encode", r.encode_seconds}, {"package", r.package_seconds}}},
        {"warnings", warnings}}},
  };
  if (r.input.image) out["detail"]["outputGroupDetails"] = nlohmann::json::array({image_output_group(r)});
  if (r.job_id > 0) out["kilnJob"] = {{"id", r.job_id}, {"attempt", r.job_attempt}};
  return out;
}

std::string recipe_label(const std::string& variant, bool device_decoded, bool cpu_scaled, bool hw_encoder) {
  constexpr std::string_view kZeroCopy = "zero-copy: ";
  if (variant.rfind(kZeroCopy, 0) != 0 || (device_decoded && !cpu_scaled && hw_encoder)) return variant;
  std::vector<std::string> why;
  if (!device_decoded) why.emplace_back("decoded in software");
  if (cpu_scaled) why.emplace_back("scaled in system memory");
  if (!hw_encoder) why.emplace_back("encoded on the CPU");
  return fmt::format("{} (not zero-copy: {})", variant.substr(kZeroCopy.size()), fmt::join(why, ", "));
}

std::optional<OutputOwner> output_owner(const std::string& output_dir) {
  std::ifstream in(output_dir + "/result.json");
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_output_owner(text);
}

std::optional<OutputOwner> parse_output_owner(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("kilnJob") || !j["kilnJob"].is_object()) return std::nullopt;
  const auto& m = j["kilnJob"];
  if (!m.contains("id") || !m["id"].is_number_integer()) return std::nullopt;
  OutputOwner owner;
  owner.job_id = m["id"].get<int64_t>();
  owner.attempt = m.value("attempt", 0);
  owner.result = std::move(j);
  return owner;
}

nlohmann::json error_json(const std::string& input, const Status& status) {
  return {{"version", "0"},
          {"source", "kiln"},
          {"detail-type", "MediaConvert Job State Change"},
          {"detail",
           {{"timestamp", now_ms()},
            {"status", "ERROR"},
            {"inputUri", input},
            {"errorCode", code_name(status.code())},
            {"exitCode", exit_code(status.code())},
            {"errorMessage", status.message()}}}};
}

}  // namespace kiln::pipeline
