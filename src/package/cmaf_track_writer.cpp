#include "package/cmaf_track_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "av/av_error.hpp"
#include "package/codec_string.hpp"

namespace kiln::package {
namespace fs = std::filesystem;

namespace {
// A keyframe this close before a boundary counts as on it (timestamp rounding).
constexpr double kBoundaryEpsilon = 1e-3;
constexpr int kAvioBufferSize = 1 << 16;
}  // namespace

void SharedTimeline::report_first_dts(double seconds) {
  std::lock_guard lock(mu_);
  min_dts_ = std::min(min_dts_, seconds);
  if (--remaining_ <= 0) settled_ = true;
}

std::optional<int64_t> SharedTimeline::offset_us() const {
  std::lock_guard lock(mu_);
  if (!settled_) return std::nullopt;
  return static_cast<int64_t>(std::ceil(-min_dts_ * 1e6));
}

void SharedTimeline::close() {
  std::lock_guard lock(mu_);
  settled_ = true;
}

int64_t TrackSummary::total_bytes() const {
  int64_t sum = init_bytes;
  for (const auto& s : segments) sum += s.bytes;
  return sum;
}

double TrackSummary::duration_seconds() const {
  int64_t d = 0;
  for (const auto& s : segments) d += s.duration;
  return timescale ? static_cast<double>(d) / timescale : 0.0;
}

int64_t TrackSummary::average_bitrate() const {
  double secs = duration_seconds();
  if (secs <= 0) return 0;
  int64_t bytes = 0;
  for (const auto& s : segments) bytes += s.bytes;
  return static_cast<int64_t>(std::llround(bytes * 8.0 / secs));
}

int64_t TrackSummary::peak_bitrate() const {
  double peak = 0;
  for (const auto& s : segments)
    if (s.duration > 0) peak = std::max(peak, s.bytes * 8.0 * timescale / s.duration);
  return static_cast<int64_t>(std::llround(peak));
}

Result<std::unique_ptr<CmafTrackWriter>> CmafTrackWriter::open(const std::string& out_dir,
                                                               const std::string& folder,
                                                               const AVCodecContext* encoder,
                                                               double segment_seconds,
                                                               SharedTimeline* timeline) {
  std::unique_ptr<CmafTrackWriter> w(new CmafTrackWriter());
  w->dir_ = (fs::path(out_dir) / folder).string();
  std::error_code ec;
  fs::create_directories(w->dir_, ec);
  if (ec) return Status(Code::kIo, fmt::format("cannot create '{}': {}", w->dir_, ec.message()));
  w->summary_.folder = folder;
  w->segment_seconds_ = segment_seconds;
  w->timeline_ = timeline;
  w->enc_tb_ = encoder->time_base;
  w->is_video_ = encoder->codec_type == AVMEDIA_TYPE_VIDEO;
  if (w->is_video_ && encoder->framerate.num > 0)
    w->default_duration_ = av_rescale_q(1, av_inv_q(encoder->framerate), encoder->time_base);
  else if (!w->is_video_)
    w->default_duration_ = av_rescale_q(encoder->frame_size, {1, encoder->sample_rate},
                                        encoder->time_base);

  AVFormatContext* raw = nullptr;
  AV_TRY(avformat_alloc_output_context2(&raw, nullptr, "mp4", nullptr), Code::kInternal,
         "allocating the mp4 muxer");
  w->mux_.reset(raw);
  AVStream* st = avformat_new_stream(raw, nullptr);
  if (!st) return Status(Code::kInternal, "out of memory adding a stream");
  AV_TRY(avcodec_parameters_from_context(st->codecpar, encoder), Code::kInternal,
         "copying encoder parameters");
  // hvc1: parameter sets only in the sample entry, what Apple's players require of HEVC.
  if (encoder->codec_id == AV_CODEC_ID_HEVC) st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
  st->time_base = encoder->time_base;
  auto* buf = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
  w->avio_.reset(avio_alloc_context(buf, kAvioBufferSize, 1, w.get(), nullptr,
                                    &CmafTrackWriter::on_write, nullptr));
  if (!w->avio_) {
    av_free(buf);
    return Status(Code::kInternal, "out of memory allocating muxer I/O");
  }
  raw->pb = w->avio_.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;

  AVDictionary* opts = nullptr;
  // empty_moov: the init segment is the header alone. frag_custom: we decide where fragments
  // end (segment boundaries). frag_discont + no edit list + no shifting: tfdt carries the
  // shared timeline's real decode time instead of restarting each track at zero.
  av_dict_set(&opts, "movflags",
              "+frag_custom+empty_moov+default_base_moof+cmaf+frag_discont+skip_trailer", 0);
  av_dict_set(&opts, "use_editlist", "0", 0);
  av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
  int ret = avformat_write_header(raw, &opts);
  av_dict_free(&opts);
  AV_TRY(ret, Code::kInternal, fmt::format("writing the {} init segment", folder));
  w->track_tb_ = st->time_base;
  w->summary_.timescale = st->time_base.den;
  avio_flush(raw->pb);
  w->summary_.codecs = rfc6381_codec(
      st->codecpar, std::string_view(reinterpret_cast<const char*>(w->buffer_.data()), w->buffer_.size()));
  w->summary_.init_bytes = static_cast<int64_t>(w->buffer_.size());
  KILN_RETURN_IF_ERROR(w->save("init.mp4"));
  return w;
}

CmafTrackWriter::~CmafTrackWriter() {
  // The muxer's pb is ours (avio_): detach before the muxer context is freed.
  if (mux_) mux_->pb = nullptr;
}

int CmafTrackWriter::on_write(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<CmafTrackWriter*>(opaque);
  self->buffer_.insert(self->buffer_.end(), buf, buf + size);
  return size;
}

Status CmafTrackWriter::save(const std::string& name) {
  std::string path = dir_ + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(buffer_.data()),
            static_cast<std::streamsize>(buffer_.size()));
  out.close();
  if (!out) return {Code::kIo, fmt::format("cannot write '{}'", path)};
  buffer_.clear();
  return Status::ok();
}

Status CmafTrackWriter::write(AVPacket* packet) {
  av::PacketPtr p = av::make_packet();
  av_packet_move_ref(p.get(), packet);
  if (p->dts == AV_NOPTS_VALUE) p->dts = p->pts;
  if (offset_) return accept(std::move(p));
  if (!reported_) {
    reported_ = true;
    timeline_->report_first_dts(p->dts * av_q2d(enc_tb_));
  }
  pending_.push_back(std::move(p));
  auto off = timeline_->offset_us();
  if (!off) return Status::ok();
  offset_ = av_rescale_q_rnd(*off, {1, 1000000}, enc_tb_, AV_ROUND_UP);
  std::vector<av::PacketPtr> queued;
  queued.swap(pending_);
  for (auto& q : queued) KILN_RETURN_IF_ERROR(accept(std::move(q)));
  return Status::ok();
}

Status CmafTrackWriter::accept(av::PacketPtr p) {
  // Segment boundaries are decided on the unshifted timeline, the same rule the encoders use
  // to force keyframes, so every rendition cuts at the same timestamps.
  const double t = p->pts * av_q2d(enc_tb_);
  const bool cut_point = (!is_video_ || (p->flags & AV_PKT_FLAG_KEY)) &&
                         t >= next_boundary_ * segment_seconds_ - kBoundaryEpsilon;
  p->pts += *offset_;
  p->dts += *offset_;
  if (held_) {
    if (held_->duration <= 0) {
      int64_t d = p->dts - held_->dts;
      held_->duration = d > 0 ? d : default_duration_;
    }
    KILN_RETURN_IF_ERROR(mux(std::move(held_)));
  }
  if (cut_point && open_segment_) {
    KILN_RETURN_IF_ERROR(cut_segment());
    while (t >= next_boundary_ * segment_seconds_ - kBoundaryEpsilon) ++next_boundary_;
  }
  held_ = std::move(p);
  return Status::ok();
}

Status CmafTrackWriter::mux(av::PacketPtr p) {
  av_packet_rescale_ts(p.get(), enc_tb_, track_tb_);
  p->stream_index = 0;
  int64_t end = p->pts + p->duration;
  if (!open_segment_) {
    open_segment_ = true;
    current_ = SegmentInfo{p->pts, 0, 0};
    current_end_ = end;
  } else {
    current_.start = std::min(current_.start, p->pts);
    current_end_ = std::max(current_end_, end);
  }
  AV_TRY(av_write_frame(mux_.get(), p.get()), Code::kInternal,
         fmt::format("muxing a packet into {}", summary_.folder));
  return Status::ok();
}

Status CmafTrackWriter::cut_segment() {
  if (!open_segment_) return Status::ok();
  AV_TRY(av_write_frame(mux_.get(), nullptr), Code::kInternal,
         fmt::format("closing a fragment of {}", summary_.folder));
  avio_flush(mux_->pb);
  current_.bytes = static_cast<int64_t>(buffer_.size());
  current_.duration = current_end_ - current_.start;  // provisional; fixed up in finish()
  summary_.segments.push_back(current_);
  open_segment_ = false;
  return save(fmt::format("seg_{:05d}.m4s", summary_.segments.size()));
}

Status CmafTrackWriter::finish() {
  if (finished_) return Status::ok();
  finished_ = true;
  if (!offset_) {
    timeline_->close();
    offset_ = av_rescale_q_rnd(timeline_->offset_us().value_or(0), {1, 1000000}, enc_tb_,
                               AV_ROUND_UP);
    std::vector<av::PacketPtr> queued;
    queued.swap(pending_);
    for (auto& q : queued) KILN_RETURN_IF_ERROR(accept(std::move(q)));
  }
  if (held_) {
    if (held_->duration <= 0) held_->duration = default_duration_;
    KILN_RETURN_IF_ERROR(mux(std::move(held_)));
  }
  KILN_RETURN_IF_ERROR(cut_segment());
  AV_TRY(av_write_trailer(mux_.get()), Code::kInternal,
         fmt::format("finishing {}", summary_.folder));
  buffer_.clear();
  auto& segs = summary_.segments;
  for (size_t i = 0; i + 1 < segs.size(); ++i) segs[i].duration = segs[i + 1].start - segs[i].start;
  summary_.presentation_offset = av_rescale_q(*offset_, enc_tb_, track_tb_);
  return Status::ok();
}

}  // namespace kiln::package
