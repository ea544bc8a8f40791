#pragma once
// An image input's job: the same request, staging directory, result.json and atomic publish as
// a ladder, with libvips variants (src/image/) instead of the ladder runner.

#include <functional>
#include <string>

#include "image/image_sniff.hpp"
#include "kiln/pipeline.hpp"
#include "pipeline/staging_dir.hpp"

namespace kiln::pipeline {

/// Where an image job's output goes. The defaults: OUTDIR on disk, renamed into place.
struct ImageDestination {
  std::string input_uri;     // the input as results name it ("": request.input)
  std::string media_prefix;  // "a3/": the variants lie under the attempt's folder (a bucket output)
  std::string final_dir;     // the output as results name it ("": OUTDIR made absolute)
  /// Publishes the finished staging directory (its before_publish check included); null: the
  /// lease check, then the atomic rename.
  std::function<Status(StagingDir&)> publish;
};

/// Opens the image (header checked against [image] max_pixels before decoding), reports it
/// through request.on_input (MediaInfo::image set), decodes it once, writes each planned width
/// in each format to OUTDIR/[media_prefix]image/<width>.<ext> with progress after each, then
/// result.json and the publish, as transcode() does for a ladder. Input errors carry the input codes;
/// nothing is published on any failure. `format` comes from image::sniff_image().
Result<TranscodeResult> transcode_image(const TranscodeRequest& request, image::ImageFormat format,
                                        const ImageDestination& to = {});

/// The folder inside OUTDIR that holds an image job's variants.
inline constexpr const char* kImageFolder = "image";

}  // namespace kiln::pipeline
