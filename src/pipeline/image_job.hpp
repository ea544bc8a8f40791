#pragma once
// An image input's job: the same request, staging directory, result.json and atomic publish as
// a ladder, with libvips variants (src/image/) instead of the ladder runner.

#include "image/image_sniff.hpp"
#include "kiln/pipeline.hpp"

namespace kiln::pipeline {

/// Opens the image (header checked against [image] max_pixels before decoding), reports it
/// through request.on_input (MediaInfo::image set), decodes it once, writes each planned width
/// in each format to OUTDIR/image/<width>.<ext> with progress after each, then result.json
/// and the publish, as transcode() does for a ladder. Input errors carry the input codes;
/// nothing is published on any failure. `format` comes from image::sniff_image().
Result<TranscodeResult> transcode_image(const TranscodeRequest& request, image::ImageFormat format);

/// The folder inside OUTDIR that holds an image job's variants.
inline constexpr const char* kImageFolder = "image";

}  // namespace kiln::pipeline
