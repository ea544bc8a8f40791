// Discovery against hwloc topologies of servers the tests cannot have (../shared/fixtures/hwloc).

#include "kiln/topology.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/backend.hpp"

namespace kiln {
namespace {

std::string fixture(const std::string& name) { return std::string(KILN_HWLOC_FIXTURES) + "/" + name; }

Topology load(const std::string& name) {
  auto t = load_topology(fixture(name));
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return t.is_ok() ? *t : Topology{};
}

std::vector<Device> of_backend(const std::vector<Device>& all, const std::string& backend) {
  std::vector<Device> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out),
               [&](const Device& d) { return d.backend == backend; });
  return out;
}

TEST(Topology, TwoSocketServerPlacesEachGpuOnItsNumaNode) {
  Topology t = load("2s-2numa-1intel-2nvidia.xml");
  EXPECT_TRUE(t.from_file);
  EXPECT_EQ(t.packages, 2);
  EXPECT_EQ(t.pus, 16);
  ASSERT_EQ(t.numa_nodes.size(), 2u);
  EXPECT_EQ(t.numa_nodes[0].cpus, "0-7");
  EXPECT_EQ(t.numa_nodes[1].cpus, "8-15");
  ASSERT_EQ(t.gpus.size(), 3u);
  const Gpu& flex = t.gpus[0];
  EXPECT_EQ(flex.pci_address, "0000:4d:00.0");
  EXPECT_EQ(flex.vendor, "intel");
  EXPECT_EQ(flex.model, "Intel Data Center GPU Flex 170");
  EXPECT_EQ(flex.numa_node, 0);
  EXPECT_EQ(flex.local_cpus, "0-7");
  EXPECT_EQ(flex.render_node, "/dev/dri/renderD128");
  EXPECT_EQ(flex.cuda_index, -1);
  for (size_t i : {1u, 2u}) {
    const Gpu& l4 = t.gpus[i];
    EXPECT_EQ(l4.vendor, "nvidia");
    EXPECT_EQ(l4.model, "NVIDIA L4");
    EXPECT_EQ(l4.numa_node, 1);
    EXPECT_EQ(l4.local_cpus, "8-15");
    EXPECT_EQ(l4.cuda_index, static_cast<int>(i - 1));
  }
  EXPECT_EQ(t.gpus[1].pci_address, "0000:ca:00.0");
  EXPECT_EQ(t.gpus[2].pci_address, "0000:e1:00.0");
  EXPECT_EQ(t.gpus[2].render_node, "/dev/dri/renderD130");
}

TEST(Topology, IntegratedGpuAndNvidiaCard) {
  Topology t = load("1s-igpu-1nvidia.xml");
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[0].pci_address, "0000:00:02.0");
  EXPECT_EQ(t.gpus[0].model, "Intel UHD Graphics 770");
  EXPECT_EQ(t.gpus[0].class_id, 0x0300u);
  EXPECT_EQ(t.gpus[1].pci_address, "0000:01:00.0");
  EXPECT_EQ(t.gpus[1].model, "NVIDIA RTX 4000 SFF Ada Generation");  // from hwloc's CUDA osdev
  EXPECT_EQ(t.gpus[1].local_cpus, "0-15");
}

TEST(Topology, CiBoxHasNoGpu) {
  Topology t = load("1s-2core-nogpu.xml");
  EXPECT_TRUE(t.gpus.empty());
  EXPECT_EQ(t.cores, 2);
}

TEST(Topology, UnreadableOrInvalidFileIsAUsageError) {
  auto missing = load_topology("/nonexistent/topology.xml");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kUsage);
  EXPECT_NE(missing.status().message().find("/nonexistent/topology.xml"), std::string::npos);
}

TEST(Topology, ThisMachineLoadsWithoutAGpu) {
  auto t = load_topology("");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_FALSE(t->from_file);
  EXPECT_GE(t->pus, 1);
}

TEST(Discovery, PlansEveryBackendFromATopologyFile) {
  Topology t = load("2s-2numa-1intel-2nvidia.xml");
  auto devices = discover_devices(t);
  auto sw = of_backend(devices, "software");
  ASSERT_EQ(sw.size(), 1u);
  EXPECT_EQ(sw[0].capacity, 16);
#if KILN_WITH_NVENC
  auto nv = of_backend(devices, "nvenc");
  ASSERT_EQ(nv.size(), 2u);
  EXPECT_EQ(nv[0].id, "0000:ca:00.0");  // by PCI address, not CUDA index
  EXPECT_EQ(nv[1].cuda_index, 1);
  EXPECT_EQ(nv[0].numa_node, 1);
  EXPECT_NE(nv[0].health.find("planned"), std::string::npos);
#endif
#if KILN_WITH_VAAPI
  auto va = of_backend(devices, "vaapi");
  ASSERT_EQ(va.size(), 1u);  // NVIDIA GPUs are not VAAPI encode devices
  EXPECT_EQ(va[0].id, "/dev/dri/renderD128");
  EXPECT_EQ(va[0].pci_address, "0000:4d:00.0");
#endif
#if KILN_WITH_QSV
  auto qsv = of_backend(devices, "qsv");
  ASSERT_EQ(qsv.size(), 1u);
  EXPECT_EQ(qsv[0].local_cpus, "0-7");
#endif
  EXPECT_EQ(devices.back().backend, "software");  // always last
}

TEST(Discovery, ThisMachineFindsNoHardwareButAlwaysSoftware) {
  auto t = load_topology("");
  ASSERT_TRUE(t.is_ok());
  auto devices = discover_devices(*t);
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices.back().backend, "software");
  for (const auto& d : devices)
    if (d.backend == "vaapi" || d.backend == "qsv" || d.backend == "nvenc")
      ADD_FAILURE() << "no GPU here, yet " << d.backend << " listed " << d.id << ": " << d.health;
}

TEST(CandidateChain, AutoEndsWithSoftwareAndExplainsWhatItSkipped) {
  std::vector<Device> devices(3);
  devices[0].backend = "vaapi";
  devices[0].id = "/dev/dri/renderD128";
  devices[0].usable = false;
  devices[0].health = "permission denied on /dev/dri/renderD128: add the service user to group render";
  devices[1].backend = "vulkan";
  devices[1].id = "0";
  devices[1].cpu_emulated = true;
  devices[2].backend = "software";
  devices[2].id = "cpu";
  std::vector<std::string> why;
  auto chain = candidate_chain("auto", "", devices, &why);
  ASSERT_TRUE(chain.is_ok()) << chain.status().to_string();
  ASSERT_EQ(chain->size(), 1u);
  EXPECT_EQ(chain->front().device.id, "cpu");
  std::string all;
  for (const auto& w : why) all += w + "\n";
#if KILN_WITH_VAAPI
  EXPECT_NE(all.find("group render"), std::string::npos) << all;
#endif
#if KILN_WITH_VULKAN
  EXPECT_NE(all.find("emulated on the CPU"), std::string::npos) << all;
  // Naming the emulated device pins it, with software behind it.
  auto pinned = candidate_chain("auto", "vulkan", devices, nullptr);
  ASSERT_TRUE(pinned.is_ok());
  ASSERT_EQ(pinned->size(), 2u);
  EXPECT_EQ(pinned->front().device.backend, "vulkan");
  EXPECT_EQ(pinned->back().device.backend, "software");
#endif
}

TEST(CandidateChain, UnknownBackendAndUnmatchedSelectorAreUsageErrors) {
  std::vector<Device> devices(1);
  devices[0].backend = "software";
  devices[0].id = "cpu";
  auto bad = candidate_chain("quantum", "", devices, nullptr);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kUsage);
  auto nomatch = candidate_chain("auto", "0000:99:00.0", devices, nullptr);
  ASSERT_FALSE(nomatch.is_ok());
  EXPECT_EQ(nomatch.status().code(), Code::kUsage);
}

}  // namespace
}  // namespace kiln
