#include "media/timestamp_repair.hpp"

#include <algorithm>

#include "log.hpp"

namespace kiln::media {
namespace {

constexpr int64_t kThreshold = static_cast<int64_t>(kDiscontinuitySeconds * AV_TIME_BASE);
// Timestamps beyond about 35 years are damage, and keeping to this range keeps every
// difference below well inside int64_t.
constexpr int64_t kSaneLimit = int64_t{1} << 50;

/// `ts` in microseconds, or AV_NOPTS_VALUE when it is absent or absurd.
int64_t to_us(int64_t ts, AVRational tb) {
  if (ts == AV_NOPTS_VALUE || tb.num <= 0 || tb.den <= 0) return AV_NOPTS_VALUE;
  int64_t us = av_rescale_q_rnd(ts, tb, AV_TIME_BASE_Q,
                                static_cast<AVRounding>(AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX));
  return us > kSaneLimit || us < -kSaneLimit ? AV_NOPTS_VALUE : us;
}

/// How long one packet of `st` lasts when the packet does not say, in microseconds.
int64_t nominal_duration_us(const AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  if (par->codec_type == AVMEDIA_TYPE_AUDIO && par->frame_size > 0 && par->sample_rate > 0)
    return av_rescale(par->frame_size, AV_TIME_BASE, par->sample_rate);
  AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  if (par->codec_type == AVMEDIA_TYPE_VIDEO && fr.num > 0 && fr.den > 0)
    return av_rescale_q(1, av_inv_q(fr), AV_TIME_BASE_Q);
  return 0;
}

}  // namespace

TimestampRepair::TimestampRepair(const AVFormatContext* format)
    : format_(format),
      discontinuous_(format->iformat && (format->iformat->flags & AVFMT_TS_DISCONT)),
      streams_(format->nb_streams) {}

void TimestampRepair::fix(AVPacket* pkt) {
  if (pkt->stream_index < 0 || static_cast<size_t>(pkt->stream_index) >= streams_.size()) return;
  const AVStream* st = format_->streams[pkt->stream_index];
  const AVRational tb = st->time_base;
  StreamState& s = streams_[static_cast<size_t>(pkt->stream_index)];
  auto log = logger("pipeline");

  int64_t dts = to_us(pkt->dts, tb), pts = to_us(pkt->pts, tb);
  if ((pkt->dts != AV_NOPTS_VALUE && dts == AV_NOPTS_VALUE) || (pkt->pts != AV_NOPTS_VALUE && pts == AV_NOPTS_VALUE)) {
    ++dropped_;  // out of any plausible range
  }
  if (dts != AV_NOPTS_VALUE) dts += offset_;
  if (pts != AV_NOPTS_VALUE) pts += offset_;
  // A presentation time far from its own decode time is damage in either kind of format.
  if (pts != AV_NOPTS_VALUE && dts != AV_NOPTS_VALUE && (pts - dts > kThreshold || dts - pts > kThreshold)) {
    pts = AV_NOPTS_VALUE;
    ++dropped_;
  }

  const int64_t t = dts != AV_NOPTS_VALUE ? dts : pts;
  if (t != AV_NOPTS_VALUE && s.next_dts != AV_NOPTS_VALUE) {
    const int64_t delta = t - s.next_dts;
    const bool far = delta > kThreshold || delta < -kThreshold;
    if (discontinuous_ && (far || (s.last_ts != AV_NOPTS_VALUE && t + AV_TIME_BASE / 10 < s.last_ts))) {
      offset_ -= delta;
      if (dts != AV_NOPTS_VALUE) dts -= delta;
      if (pts != AV_NOPTS_VALUE) pts -= delta;
      ++discontinuities_;
      log->info("timestamp discontinuity in stream #{} at {:.3f} s: jumped {:+.3f} s; closed", pkt->stream_index,
                static_cast<double>(s.next_dts) / AV_TIME_BASE, static_cast<double>(delta) / AV_TIME_BASE);
    } else if (!discontinuous_ && far) {
      log->debug("stream #{}: timestamp {:.3f} s is {:+.3f} s from the stream's course; dropped", pkt->stream_index,
                 static_cast<double>(t) / AV_TIME_BASE, static_cast<double>(delta) / AV_TIME_BASE);
      dts = pts = AV_NOPTS_VALUE;
      ++dropped_;
    }
  }

  pkt->dts = dts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(dts, AV_TIME_BASE_Q, tb);
  pkt->pts = pts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(pts, AV_TIME_BASE_Q, tb);

  const int64_t duration = pkt->duration > 0 ? std::clamp<int64_t>(to_us(pkt->duration, tb), 0, kThreshold)
                                             : nominal_duration_us(st);
  const int64_t now = dts != AV_NOPTS_VALUE ? dts : pts;
  if (now != AV_NOPTS_VALUE) {
    s.next_dts = now + duration;
    s.last_ts = s.last_ts == AV_NOPTS_VALUE ? now : std::max(s.last_ts, now);
  } else if (s.next_dts != AV_NOPTS_VALUE) {
    s.next_dts += duration;
  }
}

}  // namespace kiln::media
