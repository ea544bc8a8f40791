#pragma once
// Posters, seek-bar thumbnails and storyboard sprites: a branch of the job's decoded frames
// (after deinterlacing and rotation, before any scaler), on a thread of its own. The decode
// thread offers every frame; the thumbnailer takes a reference only to the few it needs (one
// per thumbnail interval, one per poster candidate), so the ladder pays almost nothing for it.
//
// Output, under OUTDIR/thumbs/: thumb_00001.jpg ... (one per interval), sprite_0001.jpg ...
// (columns x rows tiles), thumbnails.vtt (cues pointing into the sprites with #xywh=), and
// OUTDIR/poster.jpg.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "av/av_handles.hpp"
#include "kiln/ladder.hpp"
#include "kiln/status.hpp"
#include "media/image_encoder.hpp"
#include "pipeline/frame_queue.hpp"

namespace kiln::pipeline {

/// What the thumbnailer wrote (paths relative to the output directory).
struct ThumbnailOutputs {
  std::vector<std::string> thumbnails;
  std::vector<std::string> sprites;
  std::string vtt;
  int tile_width = 0, tile_height = 0, columns = 0, rows = 0;
  double interval_seconds = 0;
  double duration_seconds = 0;       // what the cues cover
  int64_t sprite_bytes = 0;
  std::string format;                // jpg or webp
  std::string poster;                // "" when none
  int poster_width = 0, poster_height = 0;
  double poster_seconds = 0;         // the poster's time on the output timeline
};

struct ThumbnailerConfig {
  ThumbnailSettings thumbnails;
  PosterSettings poster;
  std::string out_dir;
  int display_width = 0, display_height = 0;  // of the frames offered (upright, square pixels)
  AVRational time_base{1, 90000};             // of the frames offered (0 = the video's start)
  double duration_seconds = 0;                // the input's, for the last cue's end
};

class Thumbnailer {
 public:
  /// nullptr (no error) when the config asks for nothing.
  static Result<std::unique_ptr<Thumbnailer>> create(const ThumbnailerConfig& config);

  /// Decode thread: takes a reference to `frame` when it is a thumbnail or poster candidate.
  /// False when the thumbnailer has failed (its error ends the job).
  bool offer(const AVFrame* frame);
  /// Decode thread: no more frames. `last` (the last frame offered, or nullptr) becomes the
  /// poster when the poster's time lies past the video's end; `end_seconds` is where the video
  /// ends, for the last cue.
  void finish(const AVFrame* last, double end_seconds);
  /// Unblocks a thumbnailer whose job is failing.
  void close() { queue_.close(); }

  /// The thread body: scales, encodes and writes as frames arrive; the last sprite, the VTT
  /// and the poster when the frames end.
  Status run();
  const ThumbnailOutputs& outputs() const { return out_; }

 private:
  explicit Thumbnailer(const ThumbnailerConfig& config) : cfg_(config) {}
  Status thumbnail(const AVFrame* frame, double t);
  Status poster_candidate(const AVFrame* frame, double t);
  Status flush_sprite();
  Status write_file(const std::string& relative, const std::string& bytes);
  Status finish_outputs();

  ThumbnailerConfig cfg_;
  FrameQueue queue_{4};
  // Decode thread's view: the next times it wants.
  double next_thumb_ = 0;
  double next_candidate_ = 0;
  double end_seconds_ = 0;              // written by finish(), read after the queue ends
  // Thumbnailer thread.
  std::optional<media::ImageEncoder> thumb_enc_, sprite_enc_, poster_enc_;
  av::FramePtr sprite_;                 // the sheet being filled
  int tiles_in_sprite_ = 0;
  std::vector<double> thumb_times_;
  struct Candidate {
    double t;
    std::string bytes;
    std::vector<double> histogram;
  };
  std::vector<Candidate> candidates_;
  ThumbnailOutputs out_;
};

}  // namespace kiln::pipeline
