#include "support/fmp4.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace kiln::test {
namespace fs = std::filesystem;
namespace {

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint64_t be64(const uint8_t* p) { return uint64_t(be32(p)) << 32 | be32(p + 4); }
uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

struct Box {
  std::string type;
  const uint8_t* body;
  size_t size;
};

std::vector<Box> children(const uint8_t* p, size_t n) {
  std::vector<Box> out;
  size_t off = 0;
  while (off + 8 <= n) {
    uint64_t size = be32(p + off);
    size_t header = 8;
    if (size == 1) size = be64(p + off + 8), header = 16;
    if (size < header || off + size > n) throw std::runtime_error("bad box size");
    out.push_back({std::string(reinterpret_cast<const char*>(p + off + 4), 4), p + off + header,
                   size_t(size - header)});
    off += size;
  }
  return out;
}

const Box* find(const std::vector<Box>& boxes, const std::string& type) {
  for (const auto& b : boxes)
    if (b.type == type) return &b;
  return nullptr;
}

const Box& need(const std::vector<Box>& boxes, const std::string& type) {
  const Box* b = find(boxes, type);
  if (!b) throw std::runtime_error("missing box " + type);
  return *b;
}

struct Defaults {
  uint32_t duration = 0, size = 0, flags = 0;
};

}  // namespace

double CmafTrack::start_seconds() const {
  int64_t t = INT64_MAX;
  for (const auto& seg : segments)
    for (const auto& s : seg) t = std::min(t, s.pts);
  return seconds(t);
}

double CmafTrack::end_seconds() const {
  int64_t t = INT64_MIN;
  for (const auto& seg : segments)
    for (const auto& s : seg) t = std::max(t, s.pts + s.duration);
  return seconds(t);
}

size_t CmafTrack::sample_count() const {
  size_t n = 0;
  for (const auto& seg : segments) n += seg.size();
  return n;
}

CmafTrack read_cmaf_track(const fs::path& dir) {
  CmafTrack track;
  auto init = slurp(dir / "init.mp4");
  auto top = children(init.data(), init.size());
  auto moov = children(need(top, "moov").body, need(top, "moov").size);
  auto trak = children(need(moov, "trak").body, need(moov, "trak").size);
  auto mdia = children(need(trak, "mdia").body, need(trak, "mdia").size);
  const Box& mdhd = need(mdia, "mdhd");
  track.timescale = mdhd.body[0] == 1 ? be32(mdhd.body + 20) : be32(mdhd.body + 12);
  track.handler = std::string(reinterpret_cast<const char*>(need(mdia, "hdlr").body + 8), 4);
  auto minf = children(need(mdia, "minf").body, need(mdia, "minf").size);
  auto stbl = children(need(minf, "stbl").body, need(minf, "stbl").size);
  const Box& stsd = need(stbl, "stsd");
  auto entries = children(stsd.body + 8, stsd.size - 8);
  if (track.handler == "vide" && !entries.empty()) {
    track.width = be16(entries[0].body + 24);
    track.height = be16(entries[0].body + 26);
  }
  Defaults trex;
  if (const Box* mvex = find(moov, "mvex")) {
    auto m = children(mvex->body, mvex->size);
    const Box& t = need(m, "trex");
    trex = {be32(t.body + 12), be32(t.body + 16), be32(t.body + 20)};
  }

  std::vector<fs::path> segs;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".m4s") segs.push_back(e.path());
  std::sort(segs.begin(), segs.end());
  for (const auto& path : segs) {
    auto data = slurp(path);
    auto boxes = children(data.data(), data.size());
    std::vector<Sample> samples;
    for (const auto& moof_box : boxes) {
      if (moof_box.type != "moof") continue;
      auto moof = children(moof_box.body, moof_box.size);
      auto traf = children(need(moof, "traf").body, need(moof, "traf").size);
      const Box& tfhd = need(traf, "tfhd");
      uint32_t tf_flags = be32(tfhd.body) & 0xffffff;
      Defaults d = trex;
      size_t off = 8;
      if (tf_flags & 0x1) off += 8;
      if (tf_flags & 0x2) off += 4;
      if (tf_flags & 0x8) d.duration = be32(tfhd.body + off), off += 4;
      if (tf_flags & 0x10) d.size = be32(tfhd.body + off), off += 4;
      if (tf_flags & 0x20) d.flags = be32(tfhd.body + off), off += 4;
      const Box& tfdt = need(traf, "tfdt");
      int64_t dts = tfdt.body[0] == 1 ? int64_t(be64(tfdt.body + 4)) : be32(tfdt.body + 4);
      for (const auto& b : traf) {
        if (b.type != "trun") continue;
        uint8_t version = b.body[0];
        uint32_t flags = be32(b.body) & 0xffffff;
        uint32_t count = be32(b.body + 4);
        size_t p = 8;
        if (flags & 0x1) p += 4;
        uint32_t first_flags = 0;
        bool has_first = flags & 0x4;
        if (has_first) first_flags = be32(b.body + p), p += 4;
        for (uint32_t i = 0; i < count; ++i) {
          Sample s;
          uint32_t dur = d.duration, sflags = d.flags;
          int64_t cts = 0;
          if (flags & 0x100) dur = be32(b.body + p), p += 4;
          if (flags & 0x200) p += 4;
          if (flags & 0x400) sflags = be32(b.body + p), p += 4;
          if (flags & 0x800) {
            uint32_t raw = be32(b.body + p);
            cts = version == 1 ? int64_t(int32_t(raw)) : int64_t(raw);
            p += 4;
          }
          if (i == 0 && has_first) sflags = first_flags;
          s.dts = dts;
          s.pts = dts + cts;
          s.duration = dur;
          s.sync = !(sflags & 0x10000);
          dts += dur;
          samples.push_back(s);
        }
      }
    }
    track.segments.push_back(std::move(samples));
  }
  return track;
}

}  // namespace kiln::test
