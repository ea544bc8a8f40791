// Timestamp repair on packet sequences as demuxers deliver them: a broadcast splice closes for
// every stream at once, a wild timestamp in a table-based container is dropped, nothing else
// is touched.

#include "media/timestamp_repair.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace kiln::media {
namespace {

struct FormatDeleter {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};

/// A demuxer's view: video (25 fps, 1/90000) as stream 0 and AAC audio (1024 samples at
/// 48 kHz, 1/90000) as stream 1, in the named container.
std::unique_ptr<AVFormatContext, FormatDeleter> container(const char* name) {
  std::unique_ptr<AVFormatContext, FormatDeleter> f(avformat_alloc_context());
  f->iformat = av_find_input_format(name);
  AVStream* v = avformat_new_stream(f.get(), nullptr);
  v->time_base = {1, 90000};
  v->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  v->avg_frame_rate = {25, 1};
  AVStream* a = avformat_new_stream(f.get(), nullptr);
  a->time_base = {1, 90000};
  a->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
  a->codecpar->sample_rate = 48000;
  a->codecpar->frame_size = 1024;
  return f;
}

constexpr int64_t kFrame = 3600;  // one video frame at 25 fps in 1/90000
constexpr int64_t kAac = 1920;    // 1024 samples at 48 kHz in 1/90000

struct Packet {
  int stream;
  int64_t pts, dts;
};

Packet fixed(TimestampRepair& r, Packet in) {
  AVPacket* p = av_packet_alloc();
  p->stream_index = in.stream;
  p->pts = in.pts;
  p->dts = in.dts;
  r.fix(p);
  Packet out{in.stream, p->pts, p->dts};
  av_packet_free(&p);
  return out;
}

TEST(TimestampRepair, ABroadcastSpliceClosesForEveryStreamAtOnce) {
  auto f = container("mpegts");
  TimestampRepair r(f.get());
  const int64_t jump = 90 * 90000;
  int64_t v = 900000, a = 900000;
  for (int i = 0; i < 75; ++i, v += kFrame) EXPECT_EQ(fixed(r, {0, v, v}).dts, v);
  for (int i = 0; i < 140; ++i, a += kAac) EXPECT_EQ(fixed(r, {1, a, a}).dts, a);
  // Both clocks jump 90 s ahead: each stream continues where it was heading.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(fixed(r, {0, v + jump + i * kFrame, v + jump + i * kFrame}).dts, v + i * kFrame);
    EXPECT_EQ(fixed(r, {1, a + jump + i * kAac, a + jump + i * kAac}).dts, a + i * kAac);
  }
  EXPECT_EQ(r.discontinuities(), 1);
  EXPECT_NEAR(r.shift_seconds(), -90.0, 0.1);
  EXPECT_EQ(r.dropped_timestamps(), 0);
}

TEST(TimestampRepair, AClockGoingBackwardsIsASpliceToo) {
  auto f = container("mpegts");
  TimestampRepair r(f.get());
  int64_t v = 8'000'000'000;  // a 33-bit clock about to wrap, uncorrected
  for (int i = 0; i < 5; ++i, v += kFrame) fixed(r, {0, v, v});
  EXPECT_EQ(fixed(r, {0, 1000, 1000}).dts, v);
  EXPECT_EQ(fixed(r, {0, 1000 + kFrame, 1000 + kFrame}).dts, v + kFrame);
  EXPECT_EQ(r.discontinuities(), 1);
}

TEST(TimestampRepair, SmallStepsAndReorderingAreLeftAlone) {
  auto f = container("mpegts");
  TimestampRepair r(f.get());
  // B-frames: pts runs ahead of dts by two frames, dts advances a frame at a time; a 5 s gap
  // stays a gap (it is under the threshold, and may be content).
  int64_t d = 0;
  for (int i = 0; i < 20; ++i, d += kFrame) {
    Packet out = fixed(r, {0, d + 2 * kFrame, d});
    EXPECT_EQ(out.pts, d + 2 * kFrame);
    EXPECT_EQ(out.dts, d);
  }
  d += 5 * 90000;
  EXPECT_EQ(fixed(r, {0, d, d}).dts, d);
  EXPECT_EQ(r.discontinuities(), 0);
  EXPECT_EQ(r.dropped_timestamps(), 0);
}

TEST(TimestampRepair, AWildTimestampInATableBasedContainerIsDropped) {
  auto f = container("mov");
  TimestampRepair r(f.get());
  int64_t v = 0;
  for (int i = 0; i < 10; ++i, v += kFrame) fixed(r, {0, v, v});
  Packet wild = fixed(r, {0, v + 3600 * 90000LL, v + 3600 * 90000LL});  // an hour ahead: damage
  EXPECT_EQ(wild.pts, AV_NOPTS_VALUE);
  EXPECT_EQ(wild.dts, AV_NOPTS_VALUE);
  v += kFrame;
  EXPECT_EQ(fixed(r, {0, v, v}).dts, v);  // the next one is back on course, untouched
  EXPECT_EQ(r.dropped_timestamps(), 1);
  EXPECT_EQ(r.discontinuities(), 0);
  EXPECT_EQ(r.shift_seconds(), 0);
}

TEST(TimestampRepair, AbsurdValuesAndAPtsFarFromItsDtsAreDropped) {
  auto f = container("matroska");
  TimestampRepair r(f.get());
  Packet huge = fixed(r, {1, int64_t{1} << 62, int64_t{1} << 62});
  EXPECT_EQ(huge.dts, AV_NOPTS_VALUE);
  EXPECT_EQ(huge.pts, AV_NOPTS_VALUE);
  Packet split = fixed(r, {0, 3000 * 90000LL, 0});  // shown 50 minutes after it is decoded
  EXPECT_EQ(split.pts, AV_NOPTS_VALUE);
  EXPECT_EQ(split.dts, 0);
  EXPECT_EQ(r.dropped_timestamps(), 2);
}

}  // namespace
}  // namespace kiln::media
