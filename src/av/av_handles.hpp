#pragma once
// Owning handles for libav* objects. This folder is the only place that frees libav objects
// by hand; everything else holds these.

#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/frame.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace kiln::av {

struct InputFormatDeleter {
  void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct AvioContextDeleter {
  // Frees the context and the buffer it owns (which avio may have reallocated).
  void operator()(AVIOContext* ctx) const {
    if (ctx) av_freep(&ctx->buffer);
    avio_context_free(&ctx);
  }
};
/// An output AVFormatContext whose pb is owned elsewhere (custom AVIO).
struct OutputFormatDeleter {
  void operator()(AVFormatContext* ctx) const { avformat_free_context(ctx); }
};

/// An output AVFormatContext that owns its pb, a file opened with avio_open.
struct FileOutputFormatDeleter {
  void operator()(AVFormatContext* ctx) const {
    if (ctx && ctx->pb) avio_closep(&ctx->pb);
    avformat_free_context(ctx);
  }
};

struct SwsDeleter {
  void operator()(SwsContext* ctx) const { sws_freeContext(ctx); }
};

/// Plain av_malloc'd structs (AVBufferSrcParameters, ...).
struct AvFreeDeleter {
  void operator()(void* p) const { av_free(p); }
};
template <class T>
using AvMallocPtr = std::unique_ptr<T, AvFreeDeleter>;

using InputFormatPtr = std::unique_ptr<AVFormatContext, InputFormatDeleter>;
using OutputFormatPtr = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;
using FileOutputFormatPtr = std::unique_ptr<AVFormatContext, FileOutputFormatDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphDeleter>;
using SwrPtr = std::unique_ptr<SwrContext, SwrDeleter>;
using AudioFifoPtr = std::unique_ptr<AVAudioFifo, AudioFifoDeleter>;
using AvioContextPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

inline FramePtr make_frame() { return FramePtr(av_frame_alloc()); }
inline PacketPtr make_packet() { return PacketPtr(av_packet_alloc()); }

/// A new reference to the same frame data (no copy). Explicit, per house style.
inline FramePtr ref_frame(const AVFrame* src) {
  FramePtr f = make_frame();
  if (f && av_frame_ref(f.get(), src) < 0) f.reset();
  return f;
}

}  // namespace kiln::av
