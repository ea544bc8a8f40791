#include "alert/wording.hpp"

#include <fmt/format.h>

namespace kiln::alert {

Alert word(const store::Condition& c) {
  using What = store::Condition::What;
  switch (c.what) {
    case What::kJobFailed:
    case What::kJobDiscarded: {
      bool discarded = c.what == What::kJobDiscarded;
      std::string id = std::to_string(c.job_id);
      return {{{"alertname", discarded ? "KilnJobDiscarded" : "KilnJobFailed"}, {"job_id", id},
               {"severity", discarded ? "critical" : "warning"}},
              {{"summary", fmt::format("Kiln job {} {}", id,
                                       discarded ? "was discarded (out of attempts)" : "failed and will retry")},
               {"description", c.detail}}};
    }
    case What::kNodeLost:
      return {{{"alertname", "KilnNodeLost"}, {"node", c.node}, {"severity", "critical"}},
              {{"summary", fmt::format("Kiln node {} stopped heartbeating", c.node)},
               {"description", "its running jobs were handed back to the queue"}}};
    case What::kDeliveryFailed:
      return {{{"alertname", "KilnAlertDeliveryFailed"}, {"receiver", c.receiver}, {"severity", "warning"}},
              {{"summary", fmt::format("Kiln gave up delivering {} event(s) to receiver {} in the last 24 h",
                                       c.count, c.receiver)},
               {"description", fmt::format("last error: {}; see kiln_dead_letters", c.detail)}}};
  }
  return {};
}

std::vector<Alert> word_all(const std::vector<store::Condition>& conditions) {
  std::vector<Alert> out;
  out.reserve(conditions.size());
  for (const auto& c : conditions) out.push_back(word(c));
  return out;
}

}  // namespace kiln::alert
