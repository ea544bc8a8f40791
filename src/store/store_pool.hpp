#pragma once
// A few database connections shared by a server's threads: each request borrows one. Bounded:
// at most `max_open` connections exist; a borrower past that waits up to `wait` for one to come
// back, then gets kIo (the API answers 503). Thread-safe.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "store/db.hpp"

namespace kiln::store {

class StorePool {
 public:
  explicit StorePool(std::string url, int max_open = 16,
                     std::chrono::milliseconds wait = std::chrono::milliseconds(5000))
      : url_(std::move(url)), max_open_(max_open), wait_(wait) {}

  /// A borrowed connection; returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(StorePool* pool, std::unique_ptr<Db> s) : pool_(pool), store_(std::move(s)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (store_) pool_->give_back(std::move(store_));
    }
    Db* operator->() { return store_.get(); }
    Db& operator*() { return *store_; }

   private:
    StorePool* pool_;
    std::unique_ptr<Db> store_;
  };

  Result<Lease> borrow() {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_ < max_open_; }))
        return Status(Code::kIo, fmt::format("all {} database connections are busy", max_open_));
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(s));
      }
      ++open_;  // reserved before connecting, so the bound holds while we connect
    }
    auto s = Db::connect(url_);
    if (!s) {
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_one();
      return s.status();
    }
    return Lease(this, std::move(s).value());
  }

  int max_open() const { return max_open_; }

  const std::string& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<Db> s) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(s));
    cv_.notify_one();
  }
  std::string url_;
  int max_open_;
  std::chrono::milliseconds wait_;
  int open_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Db>> idle_;
};

}  // namespace kiln::store
