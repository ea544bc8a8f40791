#pragma once
// A bounded, blocking FIFO of decoded frames between the decode thread and one rendition
// worker. Bounded so a slow encoder applies back-pressure instead of growing memory.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "av/av_handles.hpp"

namespace kiln::pipeline {

class FrameQueue {
 public:
  explicit FrameQueue(size_t capacity) : capacity_(capacity) {}

  /// Blocks while full. Returns false if the queue was closed (the consumer is gone).
  bool push(av::FramePtr frame) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(frame));
    not_empty_.notify_one();
    return true;
  }

  /// Blocks while empty. nullopt once the producer finished and everything was taken.
  std::optional<av::FramePtr> pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return finished_ || closed_ || !items_.empty(); });
    if (closed_ || items_.empty()) return std::nullopt;
    av::FramePtr f = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return f;
  }

  /// The producer has no more frames.
  void finish() {
    std::lock_guard lock(mu_);
    finished_ = true;
    not_empty_.notify_all();
  }

  /// Abandon: wakes both sides; queued frames are dropped.
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<av::FramePtr> items_;
  size_t capacity_;
  bool finished_ = false;
  bool closed_ = false;
};

}  // namespace kiln::pipeline
