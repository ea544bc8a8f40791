#pragma once
// A linear libavfilter chain between a buffer source and a buffer sink, for one thread.

#include <string>

#include "av/av_handles.hpp"
#include "kiln/status.hpp"

namespace kiln::media {

/// What frames entering a chain look like.
struct FrameParams {
  int width = 0;
  int height = 0;
  AVPixelFormat pix_fmt = AV_PIX_FMT_NONE;
  AVRational time_base{1, 1};
  AVRational sample_aspect_ratio{1, 1};
  AVRational frame_rate{0, 1};
  /// Frames on a device carry their frames context; not owned (the frame holds it).
  AVBufferRef* hw_frames = nullptr;

  static FrameParams of(const AVFrame* frame, AVRational time_base, AVRational frame_rate);
  bool same_picture(const AVFrame* frame) const;
};

/// Resets colour metadata that no scaler or encoder can honour to "unspecified": values outside
/// libavutil's enums (a damaged VUI), the RGB matrix on a YUV picture, and matrices zimg cannot
/// apply to subsampled chroma. Such a tag would fail the scaler mid-job ("Generic error in an
/// external library"); unspecified is what a player assumes for a tag it does not know.
void sanitize_frame_colour(AVFrame* frame);

/// Not thread-safe; each pipeline thread owns its chains.
class FilterChain {
 public:
  /// Builds `src -> <chain> -> sink`; an empty chain is "null" (pass-through). `threads` caps
  /// libavfilter's slice threads (1 inside per-rendition workers). `hw_device` (not taken: each
  /// filter gets its own reference) is the device hwupload and the *_vulkan/_vaapi/... filters
  /// use; nullptr for a chain in system memory.
  static Result<FilterChain> create(const FrameParams& in, const std::string& chain, int threads,
                                    AVBufferRef* hw_device = nullptr);

  /// Feeds a frame (a new reference is taken; the caller keeps its own). nullptr flushes.
  Status push(const AVFrame* frame);
  /// Takes the next output frame into `out`: true if one was produced, false if the chain needs
  /// more input or is drained.
  Result<bool> pull(AVFrame* out);

  AVRational output_time_base() const;
  AVRational output_frame_rate() const;
  const FrameParams& input() const { return in_; }

 private:
  FrameParams in_;
  av::FilterGraphPtr graph_;
  AVFilterContext* src_ = nullptr;   // owned by graph_
  AVFilterContext* sink_ = nullptr;  // owned by graph_
};

}  // namespace kiln::media
