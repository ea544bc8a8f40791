#include "node/hotplug.hpp"

#include <libudev.h>
#include <poll.h>

#include <fmt/format.h>

namespace kiln::node {

struct HotplugMonitor::Impl {
  struct UdevDeleter {
    void operator()(udev* u) const { udev_unref(u); }
  };
  struct MonitorDeleter {
    void operator()(udev_monitor* m) const { udev_monitor_unref(m); }
  };
  std::unique_ptr<udev, UdevDeleter> udev_ctx;
  std::unique_ptr<udev_monitor, MonitorDeleter> monitor;
};

HotplugMonitor::HotplugMonitor() : impl_(std::make_unique<Impl>()) {}
HotplugMonitor::~HotplugMonitor() = default;

Status HotplugMonitor::start() {
  impl_->udev_ctx.reset(udev_new());
  if (!impl_->udev_ctx) return {Code::kUnsupported, "libudev is not available"};
  impl_->monitor.reset(udev_monitor_new_from_netlink(impl_->udev_ctx.get(), "udev"));
  if (!impl_->monitor) return {Code::kUnsupported, "cannot open the udev netlink socket (no udev here?)"};
  if (udev_monitor_filter_add_match_subsystem_devtype(impl_->monitor.get(), "drm", nullptr) < 0 ||
      udev_monitor_enable_receiving(impl_->monitor.get()) < 0) {
    impl_->monitor.reset();
    return {Code::kUnsupported, "cannot receive udev events for drm devices"};
  }
  return Status::ok();
}

bool HotplugMonitor::changed(std::string* what) {
  if (!impl_->monitor) return false;
  bool any = false;
  pollfd pfd{udev_monitor_get_fd(impl_->monitor.get()), POLLIN, 0};
  while (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
    udev_device* dev = udev_monitor_receive_device(impl_->monitor.get());
    if (!dev) break;
    const char* action = udev_device_get_action(dev);
    const char* name = udev_device_get_sysname(dev);
    if (what) *what += fmt::format("{}{} {}", what->empty() ? "" : ", ", action ? action : "?", name ? name : "?");
    udev_device_unref(dev);
    any = true;
  }
  return any;
}

}  // namespace kiln::node
