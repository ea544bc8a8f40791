#pragma once
// The ladder runtime: one decode thread (demux, video decode, shared pre-processing, audio),
// one worker thread per rendition (scale, encode, package), bounded queues between them.

#include <atomic>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include <libavutil/rational.h>
}

#include "kiln/backend.hpp"
#include "kiln/ladder.hpp"
#include "kiln/pipeline.hpp"
#include "media/probe.hpp"
#include "package/manifest.hpp"
#include "package/progressive_mp4_writer.hpp"
#include "pipeline/thumbnailer.hpp"

namespace kiln::pipeline {

struct RunnerConfig {
  media::ProbedInput* input = nullptr;
  std::vector<PlannedRendition> renditions;
  Ladder ladder;
  VideoRecipe recipe;
  std::string out_dir;            // where the CMAF tracks are written (the staging dir)
  int encoder_threads = 0;
  ProgressFn on_progress;
  const std::atomic<bool>* cancel = nullptr;
  int64_t fault_at_frame = -1;   // fault injection (KILN_FAULT): fail each rendition at frame N
};

/// Wall time spent in each stage, summed over the threads that run it (seconds).
struct StageSeconds {
  double decode = 0;   // demux, decode, shared pre-processing
  double scale = 0;    // per-rendition filter chains
  double encode = 0;   // encoders (including waits on their own threads)
  double package = 0;  // CMAF segmenting
};

/// A progressive MP4 the job wrote (mp4/<rung>.mp4 in the output).
struct Mp4Output {
  std::string name;           // the rung
  std::string file;           // relative to the output: mp4/720p.mp4
  int width = 0, height = 0;
  bool remux = false;         // the packets of the ladder's rung; false: an encode of its own
  package::Mp4Summary summary;
};

struct RunnerOutput {
  package::Presentation presentation;
  std::vector<Mp4Output> mp4;
  std::map<std::string, std::string> encoders;  // rendition folder -> the encoder that made it
  ThumbnailOutputs thumbnails;                  // poster, thumbnails, sprites (empty: none asked)
  int64_t frames = 0;             // source frames decoded
  int corrupt_packets = 0;
  int dropped_frames = 0;         // frames with timestamps that went backwards
  std::vector<std::string> warnings;
  StageSeconds stages;
  int64_t device_decoded_frames = 0;  // frames the decoder gave as device frames (hw decode)
  int device_scalers = 0;             // rendition filter chains that ran on the device
  int cpu_scalers = 0;                // ... and in system memory
};

/// Runs the whole ladder. Fails with the first error any thread met, or kCancelled.
Result<RunnerOutput> run_ladder(const RunnerConfig& config);

/// The pre-processing every rendition shares (deinterlace, rotate upright): a filter chain, or
/// "" when frames can go straight to the renditions.
std::string preprocess_chain(const VideoStreamInfo& video);

/// The time base frames travel in from the decoder on: the video stream's own, unless it is
/// invalid or finer than a microsecond (a damaged header), then 1/90000.
AVRational pipeline_time_base(AVRational stream);

/// libx264 threads for one rendition when the job did not fix them: the rendition's share of
/// the ladder's pixels times the CPUs the job may use, rounded up, 1..cpus. Four to six x264
/// instances with x264's own default (1.5x the CPUs each) oversubscribe the cores many times
/// over; fewer frame threads cost less synchronisation and lookahead.
int x264_threads_for(const PlannedRendition& rendition, const std::vector<PlannedRendition>& all, int cpus);

/// The next keyframe time after `t`: multiples of both the GOP and the segment duration.
double next_keyframe_time(double t, double gop_seconds, double segment_seconds);

}  // namespace kiln::pipeline
