#include "pipeline/thumbnailer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>

#include "av/av_error.hpp"
#include "log.hpp"

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
}

namespace kiln::pipeline {
namespace {

namespace fs = std::filesystem;

// What a frame offered by the decode thread is taken for (kept in the reference's opaque).
constexpr uintptr_t kThumb = 1, kPoster = 2;
// Poster candidates: a frame every 2 s of the first minute (30 at most), the window FFmpeg's
// thumbnail filter would look at by default, at a fraction of the frames.
constexpr double kCandidateStep = 2.0;
constexpr double kCandidateWindow = 60.0;
constexpr double kEpsilon = 1e-3;

int even(double x) { return std::max(2, static_cast<int>(std::lround(x / 2.0)) * 2); }

std::string vtt_time(double s) {
  const auto ms = static_cast<int64_t>(std::llround(s * 1000));
  return fmt::format("{:02d}:{:02d}:{:02d}.{:03d}", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
}

/// Black in the encoder's pixel format (full-range JPEG: Y 0; limited-range WebP: Y 16).
void paint_black(AVFrame* f) {
  const int y = f->format == AV_PIX_FMT_YUVJ420P ? 0 : 16;
  for (int p = 0; p < 3; ++p) {
    const int rows = p ? f->height / 2 : f->height;
    for (int r = 0; r < rows; ++r) std::fill_n(f->data[p] + static_cast<ptrdiff_t>(r) * f->linesize[p], p ? f->width / 2 : f->width, p ? 128 : y);
  }
}

}  // namespace

Result<std::unique_ptr<Thumbnailer>> Thumbnailer::create(const ThumbnailerConfig& config) {
  const bool thumbs = config.thumbnails.interval_seconds > 0;
  if (!thumbs && !config.poster.enabled) return std::unique_ptr<Thumbnailer>();
  std::unique_ptr<Thumbnailer> t(new Thumbnailer(config));
  const double aspect = static_cast<double>(config.display_height) / std::max(1, config.display_width);
  if (thumbs) {
    const auto& s = config.thumbnails;
    t->out_.tile_width = even(std::min(s.width, config.display_width));
    t->out_.tile_height = even(t->out_.tile_width * aspect);
    t->out_.columns = s.columns;
    t->out_.rows = s.rows;
    t->out_.interval_seconds = s.interval_seconds;
    t->out_.format = s.format;
    auto enc = media::ImageEncoder::open(s.format, t->out_.tile_width, t->out_.tile_height);
    if (!enc) return enc.status();
    t->thumb_enc_.emplace(std::move(enc).value());
    auto sprite = media::ImageEncoder::open(s.format, t->out_.tile_width * s.columns, t->out_.tile_height * s.rows);
    if (!sprite) return sprite.status();
    t->sprite_enc_.emplace(std::move(sprite).value());
  }
  if (config.poster.enabled) {
    const int w = config.poster.width > 0 ? std::min(config.poster.width, config.display_width) : config.display_width;
    t->out_.poster_width = even(w);
    t->out_.poster_height = even(t->out_.poster_width * aspect);
    auto enc = media::ImageEncoder::open(config.poster.format, t->out_.poster_width, t->out_.poster_height);
    if (!enc) return enc.status();
    t->poster_enc_.emplace(std::move(enc).value());
  }
  return t;
}

bool Thumbnailer::offer(const AVFrame* frame) {
  const double t = frame->pts * av_q2d(cfg_.time_base);
  uintptr_t roles = 0;
  if (thumb_enc_ && t + kEpsilon >= next_thumb_) {
    roles |= kThumb;
    next_thumb_ = (std::floor((t + kEpsilon) / cfg_.thumbnails.interval_seconds) + 1) * cfg_.thumbnails.interval_seconds;
  }
  if (poster_enc_) {
    const double at = cfg_.poster.at_seconds;
    if (at >= 0 ? (t + kEpsilon >= at && next_candidate_ <= at) : (t + kEpsilon >= next_candidate_ && t < kCandidateWindow)) {
      roles |= kPoster;
      next_candidate_ = at >= 0 ? std::numeric_limits<double>::infinity() : next_candidate_ + kCandidateStep;
    }
  }
  if (!roles) return true;
  av::FramePtr ref = av::ref_frame(frame);
  if (!ref) return false;
  ref->opaque = reinterpret_cast<void*>(roles);
  return queue_.push(std::move(ref));
}

void Thumbnailer::finish(const AVFrame* last, double end_seconds) {
  end_seconds_ = end_seconds;  // the queue's lock orders this before run() reads it
  if (poster_enc_ && cfg_.poster.at_seconds >= 0 && next_candidate_ <= cfg_.poster.at_seconds && last) {
    if (av::FramePtr ref = av::ref_frame(last)) {
      ref->opaque = reinterpret_cast<void*>(kPoster);
      queue_.push(std::move(ref));
    }
  }
  queue_.finish();
}

Status Thumbnailer::run() {
  while (auto item = queue_.pop()) {
    AVFrame* f = item->get();
    const auto roles = reinterpret_cast<uintptr_t>(f->opaque);
    av::FramePtr system;
    if (f->hw_frames_ctx) {  // a device's surface: its picture comes to system memory first
      system = av::make_frame();
      AV_TRY(av_hwframe_transfer_data(system.get(), f, 0), Code::kInternal, "downloading a frame for a thumbnail");
      system->pts = f->pts;
      f = system.get();
    }
    const double t = f->pts * av_q2d(cfg_.time_base);
    if (roles & kThumb) KILN_RETURN_IF_ERROR(thumbnail(f, t));
    if (roles & kPoster) KILN_RETURN_IF_ERROR(poster_candidate(f, t));
  }
  return finish_outputs();
}

Status Thumbnailer::thumbnail(const AVFrame* frame, double t) {
  auto scaled = thumb_enc_->scale(frame);
  if (!scaled) return scaled.status();
  auto bytes = thumb_enc_->encode_scaled(scaled->get());
  if (!bytes) return bytes.status();
  // Every grid slot this frame reaches gets it (a hole in the video covers several).
  const double step = cfg_.thumbnails.interval_seconds;
  while (thumb_times_.size() * step <= t + kEpsilon) {
    const size_t n = thumb_times_.size() + 1;
    const std::string name = fmt::format("thumbs/thumb_{:05d}.{}", n, out_.format);
    KILN_RETURN_IF_ERROR(write_file(name, *bytes));
    out_.thumbnails.push_back(name);
    thumb_times_.push_back(static_cast<double>(n - 1) * step);
    if (!sprite_) {
      sprite_ = av::make_frame();
      sprite_->width = out_.tile_width * out_.columns;
      sprite_->height = out_.tile_height * out_.rows;
      sprite_->format = sprite_enc_->pixel_format();
      AV_TRY(av_frame_get_buffer(sprite_.get(), 0), Code::kInternal, "a storyboard buffer");
      paint_black(sprite_.get());
    }
    const int col = tiles_in_sprite_ % out_.columns, row = tiles_in_sprite_ / out_.columns;
    for (int p = 0; p < 3; ++p) {
      const int shift = p ? 1 : 0;
      uint8_t* dst = sprite_->data[p] + static_cast<ptrdiff_t>((row * out_.tile_height) >> shift) * sprite_->linesize[p] +
                     ((col * out_.tile_width) >> shift);
      av_image_copy_plane(dst, sprite_->linesize[p], (*scaled)->data[p], (*scaled)->linesize[p],
                          out_.tile_width >> shift, out_.tile_height >> shift);
    }
    if (++tiles_in_sprite_ == out_.columns * out_.rows) KILN_RETURN_IF_ERROR(flush_sprite());
  }
  return Status::ok();
}

Status Thumbnailer::flush_sprite() {
  if (!sprite_ || tiles_in_sprite_ == 0) return Status::ok();
  auto bytes = sprite_enc_->encode_scaled(sprite_.get());
  if (!bytes) return bytes.status();
  const std::string name = fmt::format("thumbs/sprite_{:04d}.{}", out_.sprites.size() + 1, out_.format);
  KILN_RETURN_IF_ERROR(write_file(name, *bytes));
  out_.sprites.push_back(name);
  out_.sprite_bytes += static_cast<int64_t>(bytes->size());
  paint_black(sprite_.get());
  tiles_in_sprite_ = 0;
  return Status::ok();
}

Status Thumbnailer::poster_candidate(const AVFrame* frame, double t) {
  auto scaled = poster_enc_->scale(frame);
  if (!scaled) return scaled.status();
  auto bytes = poster_enc_->encode_scaled(scaled->get());
  if (!bytes) return bytes.status();
  candidates_.push_back({t, std::move(bytes).value(), media::yuv_histogram(scaled->get())});
  return Status::ok();
}

Status Thumbnailer::finish_outputs() {
  if (thumb_enc_ && !thumb_times_.empty()) {
    KILN_RETURN_IF_ERROR(flush_sprite());
    const double step = cfg_.thumbnails.interval_seconds;
    const double end = std::max(end_seconds_ > 0 ? end_seconds_ : cfg_.duration_seconds, thumb_times_.back() + kEpsilon);
    std::string vtt = "WEBVTT\n";
    const int per_sprite = out_.columns * out_.rows;
    for (size_t i = 0; i < thumb_times_.size(); ++i) {
      const int tile = static_cast<int>(i) % per_sprite;
      vtt += fmt::format("\n{} --> {}\nsprite_{:04d}.{}#xywh={},{},{},{}\n", vtt_time(thumb_times_[i]),
                         vtt_time(std::min(thumb_times_[i] + step, end)), i / per_sprite + 1, out_.format,
                         tile % out_.columns * out_.tile_width, tile / out_.columns * out_.tile_height,
                         out_.tile_width, out_.tile_height);
    }
    out_.vtt = "thumbs/thumbnails.vtt";
    out_.duration_seconds = end;
    KILN_RETURN_IF_ERROR(write_file(out_.vtt, vtt));
  }
  if (poster_enc_ && !candidates_.empty()) {
    // FFmpeg's thumbnail filter: the frame whose histogram is closest to the candidates' mean.
    size_t best = 0;
    if (cfg_.poster.at_seconds < 0 && candidates_.size() > 1) {
      std::vector<double> mean(candidates_.front().histogram.size(), 0.0);
      for (const auto& c : candidates_)
        for (size_t i = 0; i < mean.size(); ++i) mean[i] += c.histogram[i] / static_cast<double>(candidates_.size());
      double least = std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < candidates_.size(); ++k) {
        double err = 0;
        for (size_t i = 0; i < mean.size(); ++i) err += (candidates_[k].histogram[i] - mean[i]) * (candidates_[k].histogram[i] - mean[i]);
        if (err < least) least = err, best = k;
      }
    }
    out_.poster = fmt::format("poster.{}", cfg_.poster.format);
    out_.poster_seconds = candidates_[best].t;
    KILN_RETURN_IF_ERROR(write_file(out_.poster, candidates_[best].bytes));
  }
  return Status::ok();
}

Status Thumbnailer::write_file(const std::string& relative, const std::string& bytes) {
  const fs::path path = fs::path(cfg_.out_dir) / relative;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (ec || !out) return {Code::kIo, fmt::format("cannot write '{}'", path.string())};
  return Status::ok();
}

}  // namespace kiln::pipeline
