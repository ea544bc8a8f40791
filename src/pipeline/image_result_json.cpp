// An image job's part of result.json: what the image's header said (inputDetails) and the
// variants written (an IMAGE_GROUP output group in place of the CMAF group).

#include "pipeline/image_job.hpp"
#include "pipeline/result_json.hpp"

namespace kiln::pipeline {

nlohmann::json image_input_details(const MediaInfo& in) {
  const ImageInfo& i = *in.image;
  nlohmann::json image = {
      {"format", i.format},
      {"loader", i.loader},
      {"widthInPx", i.width},
      {"heightInPx", i.height},
      {"displayWidthInPx", i.display_width()},
      {"displayHeightInPx", i.display_height()},
      {"orientation", i.orientation},
      {"bands", i.bands},
      {"alpha", i.alpha},
      {"bitDepth", i.bit_depth},
      {"colorSpace", i.colour_space},
      {"iccProfile", i.icc_profile},
      {"pages", i.pages},
      {"camera", {{"make", i.camera_make}, {"model", i.camera_model}}},
      {"captureTime", i.capture_time},
      {"gpsPresent", i.gps},
      {"metadata", {{"exif", i.exif}, {"xmp", i.xmp}, {"iptc", i.iptc}}},
  };
  return {{"uri", in.path},
          {"container", in.container},
          {"sizeInBytes", in.size_bytes},
          {"durationInMs", 0},
          {"image", image},
          {"video", nlohmann::json::array()},
          {"audio", nlohmann::json::array()}};
}

nlohmann::json image_output_group(const TranscodeResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : r.image_variants)
    outputs.push_back({{"name", o.path.substr(o.path.rfind('/') + 1)},
                       {"outputFilePaths", {r.output_dir + "/" + o.path}},
                       {"imageDetails",
                        {{"format", o.format},
                         {"widthInPx", o.width},
                         {"heightInPx", o.height},
                         {"sizeInBytes", o.size_bytes},
                         {"quality", o.quality}}}});
  return {{"type", "IMAGE_GROUP"},
          {"outputDirectory", r.output_dir + "/" + kImageFolder},
          {"outputDetails", outputs}};
}

}  // namespace kiln::pipeline
