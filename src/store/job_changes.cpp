#include "store/job_changes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "store/db_impl.hpp"

namespace kiln::store {

struct JobChanges::Impl {
  struct Receiver : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, std::vector<int64_t>* out) : pqxx::notification_receiver(c, "kiln_job_changes"), out(out) {}
    void operator()(const std::string& payload, int) override {
      try {
        int64_t id = std::stoll(payload);
        if (std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
      } catch (const std::exception&) {
      }
    }
    std::vector<int64_t>* out;
  };
  std::vector<int64_t> pending;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;  // declared after conn: destroyed first
};

JobChanges::JobChanges(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobChanges::~JobChanges() = default;

Result<std::unique_ptr<JobChanges>> JobChanges::open(const std::string& url) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->conn = std::make_unique<pqxx::connection>(with_connection_defaults(url));
    impl->receiver = std::make_unique<Impl::Receiver>(*impl->conn, &impl->pending);
    impl->conn->get_notifs();  // the LISTEN goes out with the receiver; make sure it is in
  } catch (const std::exception& e) {
    return Status(Code::kIo, fmt::format("cannot listen for job changes: {}", e.what()));
  }
  return std::unique_ptr<JobChanges>(new JobChanges(std::move(impl)));
}

Result<std::vector<int64_t>> JobChanges::wait(double seconds) {
  try {
    if (impl_->pending.empty()) {
      long s = static_cast<long>(seconds);
      long us = static_cast<long>((seconds - s) * 1e6);
      impl_->conn->await_notification(s, us);
    }
    impl_->conn->get_notifs();
  } catch (const std::exception& e) {
    return Status(Code::kIo, fmt::format("lost the database while waiting for job changes: {}", e.what()));
  }
  std::vector<int64_t> out;
  out.swap(impl_->pending);
  return out;
}

}  // namespace kiln::store
