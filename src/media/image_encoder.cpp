#include "media/image_encoder.hpp"

#include <fmt/format.h>

#include <vector>

#include "av/av_error.hpp"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace kiln::media {

Result<ImageEncoder> ImageEncoder::open(const std::string& format, int width, int height) {
  ImageEncoder e;
  e.format_ = format;
  e.width_ = width;
  e.height_ = height;
  // JPEG in full range (what every viewer assumes of a JPEG); WebP from limited-range 4:2:0.
  const char* name = format == "webp" ? "libwebp" : "mjpeg";
  e.pix_fmt_ = format == "webp" ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_YUVJ420P;
  const AVCodec* codec = avcodec_find_encoder_by_name(name);
  if (!codec) return Status(Code::kUnsupported, fmt::format("the {} encoder is not in this FFmpeg build", name));
  e.enc_.reset(avcodec_alloc_context3(codec));
  if (!e.enc_) return Status(Code::kInternal, "out of memory allocating an image encoder");
  e.enc_->width = width;
  e.enc_->height = height;
  e.enc_->pix_fmt = e.pix_fmt_;
  e.enc_->time_base = {1, 25};
  if (format == "webp") {
    e.enc_->global_quality = 75 * FF_QP2LAMBDA;  // libwebp's quality 75
  } else {
    e.enc_->flags |= AV_CODEC_FLAG_QSCALE;
    e.enc_->global_quality = 4 * FF_QP2LAMBDA;  // mjpeg q 4: about libjpeg quality 85
  }
  AV_TRY(avcodec_open2(e.enc_.get(), codec, nullptr), Code::kInternal,
         fmt::format("opening the {} encoder for {}x{}", name, width, height));
  e.packet_ = av::make_packet();
  return e;
}

Result<av::FramePtr> ImageEncoder::scale(const AVFrame* in) {
  if (!sws_ || in->width != in_w_ || in->height != in_h_ || in->format != in_fmt_) {
    SwsContext* ctx = sws_getContext(in->width, in->height, static_cast<AVPixelFormat>(in->format), width_, height_,
                                     pix_fmt_, SWS_BICUBIC, nullptr, nullptr, nullptr);
    if (!ctx)
      return Status(Code::kInternal, fmt::format("no scaler from {}x{} {} to {}x{}", in->width, in->height,
                                                 av_get_pix_fmt_name(static_cast<AVPixelFormat>(in->format)),
                                                 width_, height_));
    sws_.reset(ctx);
    in_w_ = in->width, in_h_ = in->height, in_fmt_ = in->format;
  }
  av::FramePtr out = av::make_frame();
  out->width = width_;
  out->height = height_;
  out->format = pix_fmt_;
  AV_TRY(av_frame_get_buffer(out.get(), 0), Code::kInternal, "an image buffer");
  sws_scale(sws_.get(), in->data, in->linesize, 0, in->height, out->data, out->linesize);
  return out;
}

Result<std::string> ImageEncoder::encode_scaled(const AVFrame* frame) {
  AV_TRY(avcodec_send_frame(enc_.get(), frame), Code::kInternal, fmt::format("encoding a {} image", format_));
  std::string bytes;
  for (;;) {
    int ret = avcodec_receive_packet(enc_.get(), packet_.get());
    if (ret == AVERROR(EAGAIN)) break;
    AV_TRY(ret, Code::kInternal, fmt::format("encoding a {} image", format_));
    bytes.append(reinterpret_cast<const char*>(packet_->data), static_cast<size_t>(packet_->size));
    av_packet_unref(packet_.get());
    if (!bytes.empty()) break;
  }
  if (bytes.empty()) return Status(Code::kInternal, fmt::format("the {} encoder gave no image", format_));
  return bytes;
}

Result<std::string> ImageEncoder::encode(const AVFrame* frame) {
  auto scaled = scale(frame);
  if (!scaled) return scaled.status();
  return encode_scaled(scaled->get());
}

std::vector<double> yuv_histogram(const AVFrame* f) {
  std::vector<double> h(3 * 256, 0.0);
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f->format));
  if (!d || d->nb_components < 3 || (d->flags & AV_PIX_FMT_FLAG_HWACCEL)) return h;
  for (int plane = 0; plane < 3; ++plane) {
    const int w = plane ? AV_CEIL_RSHIFT(f->width, d->log2_chroma_w) : f->width;
    const int rows = plane ? AV_CEIL_RSHIFT(f->height, d->log2_chroma_h) : f->height;
    for (int y = 0; y < rows; ++y) {
      const uint8_t* line = f->data[plane] + static_cast<ptrdiff_t>(y) * f->linesize[plane];
      for (int x = 0; x < w; ++x) h[plane * 256 + line[x]] += 1;
    }
  }
  return h;
}

}  // namespace kiln::media
