#include "node/rediscovery.hpp"

#include "log.hpp"

namespace kiln::node {

void Rediscovery::round(const std::function<Status()>* register_devices) {
  std::string what;
  if (hooks_.changed && hooks_.changed(&what)) {
    discovery_due_ = true;
    what_ = what;
  }
  if (discovery_due_) {
    auto found = hooks_.discover();
    if (!found) {
      logger("node")->warn("hotplug ({}): discovery failed ({}); trying again next round", what_,
                           found.status().message());
    } else {
      auto devices = std::make_shared<const std::vector<Device>>(std::move(found).value());
      logger("node")->warn("hotplug ({}): rediscovered {} device(s)", what_, devices->size());
      hooks_.apply(devices);
      discovery_due_ = false;
      registration_due_ = true;
    }
  }
  if (registration_due_ && register_devices) {
    Status st = (*register_devices)();
    registration_due_ = !st.is_ok();
    if (registration_due_)
      logger("node")->warn("hotplug: registering the new devices failed ({}); trying again next round", st.message());
  }
}

}  // namespace kiln::node
