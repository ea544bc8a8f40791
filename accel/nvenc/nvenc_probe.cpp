#include "nvenc/nvenc_probe.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
}

#include "av/av_handles.hpp"
#include "log.hpp"

namespace kiln::nvenc {
namespace {

// The few CUDA driver entry points used, declared by hand: no CUDA headers needed to build.
using CUresult = int;
using CUdevice = int;
using cuInit_t = CUresult (*)(unsigned);
using cuDeviceGetCount_t = CUresult (*)(int*);
using cuDeviceGet_t = CUresult (*)(CUdevice*, int);
using cuDeviceGetName_t = CUresult (*)(char*, int, CUdevice);
using cuDeviceGetPCIBusId_t = CUresult (*)(char*, int, CUdevice);
using cuDeviceTotalMem_t = CUresult (*)(size_t*, CUdevice);

struct DlDeleter {
  void operator()(void* h) const { dlclose(h); }
};

template <class F>
F sym(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

constexpr const char* kBusyAnswer = "every NVENC session was in use at probe time (busy)";

/// A tiny session of `encoder` (h264_nvenc, hevc_nvenc) on GPU `ordinal`, open while `ctx`
/// lives; avcodec_open2's answer.
int open_nvenc(int ordinal, av::CodecContextPtr& ctx, const char* encoder = "h264_nvenc") {
  const AVCodec* codec = avcodec_find_encoder_by_name(encoder);
  if (!codec) return AVERROR_ENCODER_NOT_FOUND;
  ctx.reset(avcodec_alloc_context3(codec));
  if (!ctx) return AVERROR(ENOMEM);
  ctx->width = 256;
  ctx->height = 144;
  ctx->pix_fmt = AV_PIX_FMT_NV12;
  ctx->time_base = {1, 30};
  av_opt_set_int(ctx->priv_data, "gpu", ordinal, 0);
  return avcodec_open2(ctx.get(), codec, nullptr);
}

std::string av_message(int ret) {
  std::array<char, AV_ERROR_MAX_STRING_SIZE> err{};
  av_strerror(ret, err.data(), err.size());
  return err.data();
}

/// Opens (and closes) a tiny session of `encoder` on GPU `ordinal`: "" if it opened,
/// kBusyAnswer if the driver refused for its session cap, else why there is no such encoder.
std::string try_nvenc(int ordinal, const char* encoder = "h264_nvenc") {
  if (!avcodec_find_encoder_by_name(encoder)) return fmt::format("this FFmpeg has no {}", encoder);
  av::CodecContextPtr ctx;
  int ret = open_nvenc(ordinal, ctx, encoder);
  switch (classify_nvenc_open(ret)) {
    case NvencAnswer::kPresent: return "";
    case NvencAnswer::kBusy: return kBusyAnswer;
    case NvencAnswer::kAbsent: break;
  }
  return fmt::format("no NVENC on this GPU ({})", av_message(ret));
}

}  // namespace

CudaProbe probe_cuda() {
  CudaProbe p;
  std::unique_ptr<void, DlDeleter> lib(dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL));
  if (!lib) {
    p.error = "no NVIDIA driver (libcuda.so.1 not found)";
    return p;
  }
  auto init = sym<cuInit_t>(lib.get(), "cuInit");
  auto count = sym<cuDeviceGetCount_t>(lib.get(), "cuDeviceGetCount");
  auto get = sym<cuDeviceGet_t>(lib.get(), "cuDeviceGet");
  auto name = sym<cuDeviceGetName_t>(lib.get(), "cuDeviceGetName");
  auto bus = sym<cuDeviceGetPCIBusId_t>(lib.get(), "cuDeviceGetPCIBusId");
  auto mem = sym<cuDeviceTotalMem_t>(lib.get(), "cuDeviceTotalMem_v2");
  if (!init || !count || !get || !name || !bus) {
    p.error = "libcuda.so.1 lacks the driver API Kiln needs";
    return p;
  }
  p.driver_loaded = true;
  int n = 0;
  if (CUresult r = init(0); r != 0) {
    p.error = fmt::format("cuInit failed (CUDA error {}): is /dev/nvidia* accessible?", r);
    return p;
  }
  if (count(&n) != 0) n = 0;
  for (int i = 0; i < n; ++i) {
    CUdevice dev = 0;
    if (get(&dev, i) != 0) continue;
    CudaGpu g;
    g.ordinal = i;
    std::array<char, 256> buf{};
    if (name(buf.data(), static_cast<int>(buf.size()), dev) == 0) g.name = buf.data();
    buf.fill(0);
    if (bus(buf.data(), static_cast<int>(buf.size()), dev) == 0) g.pci_address = lower(buf.data());
    if (mem) mem(&g.memory_bytes, dev);
    g.nvenc_error = try_nvenc(i);
    g.nvenc_busy = g.nvenc_error == kBusyAnswer;
    g.nvenc = g.nvenc_error.empty() || g.nvenc_busy;  // busy: it has NVENC, others use it now
    if (g.nvenc) {  // HEVC too, on every NVENC since the second Maxwell, but asked, not assumed
      const std::string hevc = try_nvenc(i, "hevc_nvenc");
      g.hevc = hevc.empty() || hevc == kBusyAnswer;
    }
    if (g.nvenc_busy)
      logger("nvenc")->warn("CUDA {} ({}): {}; listed with NVENC all the same", i, g.pci_address, kBusyAnswer);
    logger("nvenc")->debug("CUDA {}: {} at {}, NVENC {}", i, g.name, g.pci_address,
                           g.nvenc ? "yes" : g.nvenc_error);
    p.gpus.push_back(std::move(g));
  }
  return p;
}

Result<SessionLimit> count_until_refused(const std::function<int(int)>& open, int max) {
  SessionLimit limit;
  for (int i = 0; i < max; ++i) {
    const int ret = open(i);
    switch (classify_nvenc_open(ret)) {
      case NvencAnswer::kPresent:
        ++limit.opened;
        continue;
      case NvencAnswer::kBusy:
        limit.refused = true;
        limit.note = fmt::format("the driver refused session {} (busy): {} at once", i + 1, limit.opened);
        return limit;
      case NvencAnswer::kAbsent:
        if (limit.opened == 0)
          return Status(Code::kUnsupported, fmt::format("no NVENC session opens: {}", av_message(ret)));
        // Not the cap's answer: say so rather than call it the limit.
        limit.note = fmt::format("session {} failed for another reason ({}) after {} opened", i + 1,
                                 av_message(ret), limit.opened);
        return limit;
    }
  }
  limit.note = fmt::format("{} sessions opened and the driver refused none (at least {})", limit.opened, limit.opened);
  return limit;
}

Result<SessionLimit> count_nvenc_sessions(int ordinal, int max) {
  std::vector<av::CodecContextPtr> open;  // all held until the count ends
  open.reserve(static_cast<size_t>(std::max(max, 0)));
  return count_until_refused([&](int) {
    open.emplace_back();
    return open_nvenc(ordinal, open.back());
  }, max);
}

NvencAnswer classify_nvenc_open(int averror) {
  if (averror >= 0) return NvencAnswer::kPresent;
  if (averror == AVERROR(ENOMEM)) return NvencAnswer::kBusy;
  return NvencAnswer::kAbsent;
}

}  // namespace kiln::nvenc
