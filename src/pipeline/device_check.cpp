#include "pipeline/device_check.hpp"

#include <fmt/format.h>

#include "av/av_error.hpp"
#include "av/av_handles.hpp"
#include "media/video_encoder.hpp"
#include "media/video_filter.hpp"
#include "pipeline/fault.hpp"

namespace kiln::pipeline {
namespace {

constexpr int kWidth = 320, kHeight = 180, kFrames = 30;

av::FramePtr synthetic_frame(int n) {
  av::FramePtr f = av::make_frame();
  if (!f) return f;
  f->format = AV_PIX_FMT_YUV420P;
  f->width = kWidth;
  f->height = kHeight;
  if (av_frame_get_buffer(f.get(), 0) < 0) return nullptr;
  for (int plane = 0; plane < 3; ++plane) {
    int h = plane ? kHeight / 2 : kHeight, w = plane ? kWidth / 2 : kWidth;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        f->data[plane][y * f->linesize[plane] + x] = static_cast<uint8_t>(plane ? 128 : (x + y + 4 * n));
  }
  f->pts = n;
  return f;
}

}  // namespace

Result<VideoRecipe> open_recipe(const BackendOps& backend, const Device& device,
                                const MediaInfo& input) {
  if (auto fault = fault_from_env(); fault && fault->at_open && fault->backend == backend.name)
    return Status(Code::kDeviceLost, "fault injected at open (KILN_FAULT)");
  return backend.make_recipe(device, input);
}

Status test_encode(const BackendOps& backend, const Device& device) {
  MediaInfo info;
  info.path = "(test pattern)";
  info.video.codec = "rawvideo";
  info.video.width = kWidth;
  info.video.height = kHeight;
  info.video.pix_fmt = "yuv420p";
  info.video.frame_rate = {30, 1};
  auto recipe = open_recipe(backend, device, info);
  if (!recipe) return recipe.status();
  media::FrameParams in;
  in.width = kWidth;
  in.height = kHeight;
  in.pix_fmt = AV_PIX_FMT_YUV420P;
  in.time_base = {1, 30};
  in.frame_rate = {30, 1};
  auto chain = media::FilterChain::create(in, recipe->scale_filter(ScaleRequest{160, 90, false, false}),
                                          1, recipe->hw_device.get());
  if (!chain) return chain.status();
  av::CodecContextPtr encoder;
  av::FramePtr out = av::make_frame();
  av::PacketPtr pkt = av::make_packet();
  int packets = 0;
  auto drain = [&](bool flush) -> Status {
    for (;;) {
      auto got = chain->pull(out.get());
      if (!got) return got.status();
      if (!*got) break;
      if (!encoder) {
        media::VideoEncoderConfig ec;
        ec.encoder = recipe->encoder;
        ec.width = out->width;
        ec.height = out->height;
        ec.pix_fmt = static_cast<AVPixelFormat>(out->format);
        ec.time_base = chain->output_time_base();
        ec.frame_rate = {30, 1};
        ec.spec.video_bitrate = ec.spec.maxrate = 200'000;
        ec.spec.bufsize = 400'000;
        ec.spec.profile = "main";
        ec.threads = 1;
        ec.hw_frames = out->hw_frames_ctx;
        auto opened = media::open_video_encoder(ec);
        if (!opened) return opened.status();
        encoder = std::move(opened).value();
      }
      int ret = avcodec_send_frame(encoder.get(), out.get());
      av_frame_unref(out.get());
      AV_TRY(ret, Code::kDeviceLost, "test encode: sending a frame");
    }
    if (flush && encoder) AV_TRY(avcodec_send_frame(encoder.get(), nullptr), Code::kDeviceLost, "test encode: flushing");
    for (int ret = 0; encoder;) {
      ret = avcodec_receive_packet(encoder.get(), pkt.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
      AV_TRY(ret, Code::kDeviceLost, "test encode: receiving a packet");
      ++packets;
      av_packet_unref(pkt.get());
    }
    return Status::ok();
  };
  for (int i = 0; i < kFrames; ++i) {
    av::FramePtr f = synthetic_frame(i);
    if (!f) return {Code::kInternal, "out of memory making a test frame"};
    KILN_RETURN_IF_ERROR(chain->push(f.get()));
    KILN_RETURN_IF_ERROR(drain(false));
  }
  KILN_RETURN_IF_ERROR(chain->push(nullptr));
  KILN_RETURN_IF_ERROR(drain(true));
  if (packets == 0)
    return {Code::kDeviceLost, fmt::format("test encode on {} ({}) produced no packets", device.backend, device.id)};
  return Status::ok();
}

Status test_encode_device(const Device& device) {
  for (const auto& b : backend_table())
    if (b.name == device.backend) return test_encode(b, device);
  return Status(Code::kUnsupported, "this build has no " + device.backend + " backend");
}

}  // namespace kiln::pipeline
