#include "package/progressive_mp4_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include "av/av_error.hpp"

namespace kiln::package {

Result<std::unique_ptr<ProgressiveMp4Writer>> ProgressiveMp4Writer::create(std::string path,
                                                                         const AVCodecContext* audio) {
  std::unique_ptr<ProgressiveMp4Writer> w(new ProgressiveMp4Writer());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return Status(Code::kIo, fmt::format("cannot create the folder of '{}': {}", path, ec.message()));
  AVFormatContext* raw = nullptr;
  AV_TRY(avformat_alloc_output_context2(&raw, nullptr, "mp4", path.c_str()), Code::kInternal,
         "allocating the mp4 muxer");
  w->mux_.reset(raw);
  w->audio_ = audio;
  w->summary_.path = std::move(path);
  return w;
}

ProgressiveMp4Writer::~ProgressiveMp4Writer() = default;

Status ProgressiveMp4Writer::start_video(const AVCodecContext* video) {
  std::lock_guard lock(mu_);
  AVFormatContext* mux = mux_.get();
  AVStream* vs = avformat_new_stream(mux, nullptr);
  if (!vs) return {Code::kInternal, "out of memory adding a stream"};
  AV_TRY(avcodec_parameters_from_context(vs->codecpar, video), Code::kInternal, "copying encoder parameters");
  vs->time_base = video->time_base;
  video_tb_ = video->time_base;
  if (video->framerate.num > 0 && video->framerate.den > 0)
    frame_duration_ = av_rescale_q(1, av_inv_q(video->framerate), video->time_base);
  video_stream_ = vs->index;
  if (audio_) {
    AVStream* as = avformat_new_stream(mux, nullptr);
    if (!as) return {Code::kInternal, "out of memory adding a stream"};
    AV_TRY(avcodec_parameters_from_context(as->codecpar, audio_), Code::kInternal, "copying encoder parameters");
    as->time_base = audio_->time_base;
    audio_tb_ = audio_->time_base;
    audio_stream_ = as->index;
  }
  AV_TRY(avio_open(&mux->pb, summary_.path.c_str(), AVIO_FLAG_WRITE), Code::kIo,
         fmt::format("cannot create '{}'", summary_.path));
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "movflags", "+faststart", 0);
  int ret = avformat_write_header(mux, &opts);
  av_dict_free(&opts);
  AV_TRY(ret, Code::kInternal, fmt::format("writing the header of '{}'", summary_.path));
  started_ = true;
  std::vector<av::PacketPtr> early;
  early.swap(early_audio_);
  for (auto& p : early) KILN_RETURN_IF_ERROR(write(std::move(p), audio_stream_, audio_tb_));
  return Status::ok();
}

Status ProgressiveMp4Writer::write_video(const AVPacket* packet) {
  av::PacketPtr copy(av_packet_clone(packet));
  if (!copy) return {Code::kInternal, "out of memory copying a packet"};
  std::lock_guard lock(mu_);
  if (!started_ || finished_) return {Code::kInternal, fmt::format("'{}': a video packet outside the file's life", summary_.path)};
  ++summary_.video_packets;
  if (copy->duration <= 0) copy->duration = frame_duration_;  // the encoder leaves it to the muxer
  if (copy->pts != AV_NOPTS_VALUE) {
    first_pts_ = std::min(first_pts_, copy->pts);
    end_pts_ = std::max(end_pts_, copy->pts + std::max<int64_t>(copy->duration, 0));
  }
  return write(std::move(copy), video_stream_, video_tb_);
}

Status ProgressiveMp4Writer::write_audio(const AVPacket* packet) {
  if (!audio_) return Status::ok();
  av::PacketPtr copy(av_packet_clone(packet));
  if (!copy) return {Code::kInternal, "out of memory copying a packet"};
  std::lock_guard lock(mu_);
  if (finished_) return Status::ok();
  if (!started_) {
    early_audio_.push_back(std::move(copy));
    return Status::ok();
  }
  return write(std::move(copy), audio_stream_, audio_tb_);
}

Status ProgressiveMp4Writer::write(av::PacketPtr p, int stream, AVRational from) {
  AVStream* st = mux_->streams[stream];
  p->stream_index = stream;
  av_packet_rescale_ts(p.get(), from, st->time_base);
  AV_TRY(av_interleaved_write_frame(mux_.get(), p.get()), Code::kInternal,
         fmt::format("muxing a packet into '{}'", summary_.path));
  return Status::ok();
}

Status ProgressiveMp4Writer::finish() {
  std::lock_guard lock(mu_);
  if (finished_) return Status::ok();
  finished_ = true;
  if (!started_) return {Code::kInternal, fmt::format("'{}': no video was encoded", summary_.path)};
  AV_TRY(av_write_trailer(mux_.get()), Code::kIo, fmt::format("finishing '{}'", summary_.path));
  if (end_pts_ > first_pts_) summary_.duration_seconds = static_cast<double>(end_pts_ - first_pts_) * av_q2d(video_tb_);
  avio_closep(&mux_->pb);
  std::error_code ec;
  summary_.bytes = static_cast<int64_t>(std::filesystem::file_size(summary_.path, ec));
  return Status::ok();
}

}  // namespace kiln::package
