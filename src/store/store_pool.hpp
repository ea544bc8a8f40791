#pragma once
// A few database connections shared by a server's threads: each request borrows one.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace kiln::store {

class StorePool {
 public:
  explicit StorePool(std::string url) : url_(std::move(url)) {}

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
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(s));
      }
    }
    auto s = Db::connect(url_);
    if (!s) return s.status();
    return Lease(this, std::move(s).value());
  }

  const std::string& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<Db> s) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(s));
  }
  std::string url_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Db>> idle_;
};

}  // namespace kiln::store
