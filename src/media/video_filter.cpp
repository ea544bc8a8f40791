#include "media/video_filter.hpp"

#include <fmt/format.h>

#include "av/av_error.hpp"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/pixdesc.h>
}

namespace kiln::media {

void sanitize_frame_colour(AVFrame* f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f->format));
  const bool yuv = d && !(d->flags & AV_PIX_FMT_FLAG_RGB);
  const bool subsampled = d && (d->log2_chroma_w || d->log2_chroma_h);
  switch (f->colorspace) {
    case AVCOL_SPC_BT709: case AVCOL_SPC_UNSPECIFIED: case AVCOL_SPC_FCC: case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: case AVCOL_SPC_SMPTE240M: case AVCOL_SPC_BT2020_NCL:
      break;
    case AVCOL_SPC_RGB:
      if (yuv) f->colorspace = AVCOL_SPC_UNSPECIFIED;
      break;
    default:  // YCgCo, constant luminance, ICtCp, chroma-derived: none of them on subsampled
              // 8-bit sources in practice, and zimg refuses some; anything else is damage.
      if (subsampled || f->colorspace >= AVCOL_SPC_NB || f->colorspace < 0) f->colorspace = AVCOL_SPC_UNSPECIFIED;
  }
  if (f->color_primaries >= AVCOL_PRI_NB || f->color_primaries < 0 ||
      (f->color_primaries > AVCOL_PRI_SMPTE432 && f->color_primaries != AVCOL_PRI_EBU3213))
    f->color_primaries = AVCOL_PRI_UNSPECIFIED;
  if (f->color_trc >= AVCOL_TRC_NB || f->color_trc < 0) f->color_trc = AVCOL_TRC_UNSPECIFIED;
  if (f->color_range >= AVCOL_RANGE_NB || f->color_range < 0) f->color_range = AVCOL_RANGE_UNSPECIFIED;
  if (f->chroma_location >= AVCHROMA_LOC_NB || f->chroma_location < 0)
    f->chroma_location = AVCHROMA_LOC_UNSPECIFIED;
}

FrameParams FrameParams::of(const AVFrame* frame, AVRational time_base, AVRational frame_rate) {
  FrameParams p;
  p.width = frame->width;
  p.height = frame->height;
  p.pix_fmt = static_cast<AVPixelFormat>(frame->format);
  p.time_base = time_base;
  if (frame->sample_aspect_ratio.num > 0) p.sample_aspect_ratio = frame->sample_aspect_ratio;
  p.frame_rate = frame_rate;
  p.hw_frames = frame->hw_frames_ctx;
  return p;
}

bool FrameParams::same_picture(const AVFrame* frame) const {
  return frame->width == width && frame->height == height && frame->format == pix_fmt;
}

Result<FilterChain> FilterChain::create(const FrameParams& in, const std::string& chain,
                                        int threads, AVBufferRef* hw_device) {
  FilterChain fc;
  fc.in_ = in;
  fc.graph_.reset(avfilter_graph_alloc());
  if (!fc.graph_) return Status(Code::kInternal, "out of memory allocating a filter graph");
  fc.graph_->nb_threads = threads;
  AVRational sar = in.sample_aspect_ratio.num > 0 ? in.sample_aspect_ratio : AVRational{1, 1};
  std::string args = fmt::format("video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
                                 in.width, in.height, static_cast<int>(in.pix_fmt),
                                 in.time_base.num, in.time_base.den, sar.num, sar.den);
  if (in.frame_rate.num > 0)
    args += fmt::format(":frame_rate={}/{}", in.frame_rate.num, in.frame_rate.den);
  AV_TRY(avfilter_graph_create_filter(&fc.src_, avfilter_get_by_name("buffer"), "in",
                                      args.c_str(), nullptr, fc.graph_.get()),
         Code::kInternal, "creating the filter source");
  if (in.hw_frames) {
    av::AvMallocPtr<AVBufferSrcParameters> par(av_buffersrc_parameters_alloc());
    if (!par) return Status(Code::kInternal, "out of memory allocating filter parameters");
    par->hw_frames_ctx = in.hw_frames;  // buffersrc takes its own reference
    AV_TRY(av_buffersrc_parameters_set(fc.src_, par.get()), Code::kInternal,
           "passing the device frames to the filter source");
  }
  AV_TRY(avfilter_graph_create_filter(&fc.sink_, avfilter_get_by_name("buffersink"), "out",
                                      nullptr, nullptr, fc.graph_.get()),
         Code::kInternal, "creating the filter sink");

  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = fc.src_;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = fc.sink_;
  std::string desc = chain.empty() ? "null" : chain;
  int ret = avfilter_graph_parse_ptr(fc.graph_.get(), desc.c_str(), &inputs, &outputs, nullptr);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  AV_TRY(ret, Code::kInternal, fmt::format("parsing filter chain '{}'", desc));
  if (hw_device) {
    // As the ffmpeg CLI's -filter_hw_device: hwupload and friends find the device here.
    for (unsigned i = 0; i < fc.graph_->nb_filters; ++i) {
      AVFilterContext* f = fc.graph_->filters[i];
      if (f->hw_device_ctx) continue;
      f->hw_device_ctx = av_buffer_ref(hw_device);
      if (!f->hw_device_ctx) return Status(Code::kInternal, "out of memory referencing a device");
    }
  }
  AV_TRY(avfilter_graph_config(fc.graph_.get(), nullptr), Code::kInternal,
         fmt::format("configuring filter chain '{}' for {}x{} {}", desc, in.width, in.height,
                     av_get_pix_fmt_name(in.pix_fmt) ? av_get_pix_fmt_name(in.pix_fmt) : "?"));
  return fc;
}

Status FilterChain::push(const AVFrame* frame) {
  AV_TRY(av_buffersrc_add_frame_flags(src_, const_cast<AVFrame*>(frame),
                                      AV_BUFFERSRC_FLAG_KEEP_REF),
         Code::kInternal, "feeding the filter chain");
  return Status::ok();
}

Result<bool> FilterChain::pull(AVFrame* out) {
  int ret = av_buffersink_get_frame(sink_, out);
  if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return false;
  if (ret < 0) return av::to_status(ret, Code::kInternal, "reading the filter chain");
  return true;
}

AVRational FilterChain::output_time_base() const { return av_buffersink_get_time_base(sink_); }
AVRational FilterChain::output_frame_rate() const { return av_buffersink_get_frame_rate(sink_); }

}  // namespace kiln::media
