#pragma once
// Still images from decoded frames (posters, thumbnails, storyboard sprites): scaled to a
// given size and encoded as JPEG (libavcodec's mjpeg) or WebP (libwebp).

#include <string>
#include <vector>

#include "av/av_handles.hpp"
#include "kiln/status.hpp"

namespace kiln::media {

/// Encodes images of one size and format. Not thread-safe; one per thread.
class ImageEncoder {
 public:
  /// `format` is "jpg" or "webp"; frames of any size and pixel format in system memory are
  /// scaled to `width` x `height` first.
  static Result<ImageEncoder> open(const std::string& format, int width, int height);

  /// The picture as a file's bytes.
  Result<std::string> encode(const AVFrame* frame);
  /// The frame scaled to this encoder's size and pixel format, not yet encoded (a storyboard
  /// tile); owned by the caller.
  Result<av::FramePtr> scale(const AVFrame* frame);
  /// Encodes a frame already at this encoder's size and pixel format.
  Result<std::string> encode_scaled(const AVFrame* frame);

  AVPixelFormat pixel_format() const { return pix_fmt_; }

 private:
  ImageEncoder() = default;

  std::string format_;
  int width_ = 0, height_ = 0;
  AVPixelFormat pix_fmt_ = AV_PIX_FMT_NONE;
  av::CodecContextPtr enc_;
  av::PacketPtr packet_;
  // The scaler is rebuilt when the input's size or format changes (a source that changes
  // size mid-stream).
  int in_w_ = 0, in_h_ = 0, in_fmt_ = -1;
  av::SwsPtr sws_;
};

/// Luma and chroma histograms (3 x 256 bins) of a planar YUV frame, for choosing a
/// representative picture as FFmpeg's thumbnail filter does.
std::vector<double> yuv_histogram(const AVFrame* frame);

}  // namespace kiln::media
