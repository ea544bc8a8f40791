// A small VA-API driver that runs on the CPU, built only for the tests: enough of libva's
// driver interface for vaInitialize, FFmpeg's VAAPI hwcontext (NV12 surfaces, images,
// upload/download through vaPutImage/vaGetImage) and scale_vaapi (a VideoProc pipeline that
// scales bilinearly). Debian ships no software VA driver; with this one, Kiln's VAAPI backend
// (probe, av_hwdevice_ctx_create, scale_vaapi, the hybrid recipe, fallback) runs for real in CI.
// No decode, no encode: the probe must see only VideoProc.
//
// Loaded by libva as kiln_cpu_drv_video.so (LIBVA_DRIVER_NAME=kiln_cpu, LIBVA_DRIVERS_PATH).

#include <va/va.h>
#include <va/va_backend.h>
#include <va/va_backend_vpp.h>
#include <va/va_vpp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace {

struct Surface {
  int width = 0, height = 0, pitch = 0;
  std::vector<uint8_t> nv12;  // Y plane (pitch x height) then interleaved UV (pitch x height/2)
};
struct Buffer {
  VABufferType type{};
  std::vector<uint8_t> data;
};
struct Image {
  VAImage image{};
};
struct Context {
  VASurfaceID target = VA_INVALID_SURFACE;
  std::vector<VAProcPipelineParameterBuffer> pending;
};
struct Config {
  VAProfile profile{};
  VAEntrypoint entrypoint{};
};

struct Driver {
  std::mutex mu;
  unsigned next_id = 1;
  std::map<unsigned, Surface> surfaces;
  std::map<unsigned, Buffer> buffers;
  std::map<unsigned, Image> images;
  std::map<unsigned, Context> contexts;
  std::map<unsigned, Config> configs;
};

Driver& drv(VADriverContextP ctx) { return *static_cast<Driver*>(ctx->pDriverData); }

VAImageFormat nv12_format() {
  VAImageFormat f{};
  f.fourcc = VA_FOURCC_NV12;
  f.byte_order = VA_LSB_FIRST;
  f.bits_per_pixel = 12;
  return f;
}

VAStatus terminate(VADriverContextP ctx) {
  delete static_cast<Driver*>(ctx->pDriverData);
  ctx->pDriverData = nullptr;
  return VA_STATUS_SUCCESS;
}

VAStatus query_profiles(VADriverContextP, VAProfile* list, int* n) {
  list[0] = VAProfileNone;
  *n = 1;
  return VA_STATUS_SUCCESS;
}

VAStatus query_entrypoints(VADriverContextP, VAProfile p, VAEntrypoint* list, int* n) {
  if (p != VAProfileNone) return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  list[0] = VAEntrypointVideoProc;
  *n = 1;
  return VA_STATUS_SUCCESS;
}

VAStatus get_config_attributes(VADriverContextP, VAProfile, VAEntrypoint, VAConfigAttrib* a, int n) {
  for (int i = 0; i < n; ++i)
    a[i].value = a[i].type == VAConfigAttribRTFormat ? VA_RT_FORMAT_YUV420 : VA_ATTRIB_NOT_SUPPORTED;
  return VA_STATUS_SUCCESS;
}

VAStatus create_config(VADriverContextP ctx, VAProfile p, VAEntrypoint e, VAConfigAttrib*, int,
                       VAConfigID* id) {
  if (p != VAProfileNone || e != VAEntrypointVideoProc) return VA_STATUS_ERROR_UNSUPPORTED_ENTRYPOINT;
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  *id = d.next_id++;
  d.configs[*id] = {p, e};
  return VA_STATUS_SUCCESS;
}

VAStatus destroy_config(VADriverContextP ctx, VAConfigID id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  return d.configs.erase(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_CONFIG;
}

VAStatus query_config_attributes(VADriverContextP ctx, VAConfigID id, VAProfile* p, VAEntrypoint* e,
                                 VAConfigAttrib* a, int* n) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto it = d.configs.find(id);
  if (it == d.configs.end()) return VA_STATUS_ERROR_INVALID_CONFIG;
  *p = it->second.profile;
  *e = it->second.entrypoint;
  a[0].type = VAConfigAttribRTFormat;
  a[0].value = VA_RT_FORMAT_YUV420;
  *n = 1;
  return VA_STATUS_SUCCESS;
}

VAStatus create_surfaces2(VADriverContextP ctx, unsigned int format, unsigned int w, unsigned int h,
                          VASurfaceID* out, unsigned int n, VASurfaceAttrib*, unsigned int) {
  if (format != VA_RT_FORMAT_YUV420) return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  for (unsigned i = 0; i < n; ++i) {
    Surface s;
    s.width = static_cast<int>(w);
    s.height = static_cast<int>(h);
    s.pitch = (s.width + 63) & ~63;
    s.nv12.assign(static_cast<size_t>(s.pitch) * ((s.height + 1) & ~1) * 3 / 2, 16);
    out[i] = d.next_id++;
    d.surfaces[out[i]] = std::move(s);
  }
  return VA_STATUS_SUCCESS;
}

VAStatus create_surfaces(VADriverContextP ctx, int w, int h, int format, int n, VASurfaceID* out) {
  return create_surfaces2(ctx, static_cast<unsigned>(format), w, h, out, n, nullptr, 0);
}

VAStatus destroy_surfaces(VADriverContextP ctx, VASurfaceID* list, int n) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  for (int i = 0; i < n; ++i) d.surfaces.erase(list[i]);
  return VA_STATUS_SUCCESS;
}

VAStatus query_surface_attributes(VADriverContextP, VAConfigID, VASurfaceAttrib* list, unsigned int* n) {
  const VASurfaceAttrib attribs[] = {
      {VASurfaceAttribPixelFormat, VA_SURFACE_ATTRIB_GETTABLE | VA_SURFACE_ATTRIB_SETTABLE,
       {VAGenericValueTypeInteger, {.i = static_cast<int>(VA_FOURCC_NV12)}}},
      {VASurfaceAttribMinWidth, VA_SURFACE_ATTRIB_GETTABLE, {VAGenericValueTypeInteger, {.i = 16}}},
      {VASurfaceAttribMinHeight, VA_SURFACE_ATTRIB_GETTABLE, {VAGenericValueTypeInteger, {.i = 16}}},
      {VASurfaceAttribMaxWidth, VA_SURFACE_ATTRIB_GETTABLE, {VAGenericValueTypeInteger, {.i = 8192}}},
      {VASurfaceAttribMaxHeight, VA_SURFACE_ATTRIB_GETTABLE, {VAGenericValueTypeInteger, {.i = 8192}}},
  };
  const unsigned count = sizeof attribs / sizeof attribs[0];
  if (!list) {
    *n = count;
    return VA_STATUS_SUCCESS;
  }
  if (*n < count) {
    *n = count;
    return VA_STATUS_ERROR_MAX_NUM_EXCEEDED;
  }
  std::copy(attribs, attribs + count, list);
  *n = count;
  return VA_STATUS_SUCCESS;
}

VAStatus create_context(VADriverContextP ctx, VAConfigID, int, int, int, VASurfaceID*, int,
                        VAContextID* id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  *id = d.next_id++;
  d.contexts[*id] = {};
  return VA_STATUS_SUCCESS;
}

VAStatus destroy_context(VADriverContextP ctx, VAContextID id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  d.contexts.erase(id);
  return VA_STATUS_SUCCESS;
}

VAStatus create_buffer(VADriverContextP ctx, VAContextID, VABufferType type, unsigned int size,
                       unsigned int count, void* data, VABufferID* id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  Buffer b;
  b.type = type;
  b.data.resize(static_cast<size_t>(size) * count);
  if (data) std::memcpy(b.data.data(), data, b.data.size());
  *id = d.next_id++;
  d.buffers[*id] = std::move(b);
  return VA_STATUS_SUCCESS;
}

VAStatus buffer_set_num_elements(VADriverContextP, VABufferID, unsigned int) { return VA_STATUS_SUCCESS; }

VAStatus map_buffer(VADriverContextP ctx, VABufferID id, void** p) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto it = d.buffers.find(id);
  if (it == d.buffers.end()) return VA_STATUS_ERROR_INVALID_BUFFER;
  *p = it->second.data.data();
  return VA_STATUS_SUCCESS;
}

VAStatus unmap_buffer(VADriverContextP, VABufferID) { return VA_STATUS_SUCCESS; }

VAStatus destroy_buffer(VADriverContextP ctx, VABufferID id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  d.buffers.erase(id);
  return VA_STATUS_SUCCESS;
}

VAStatus begin_picture(VADriverContextP ctx, VAContextID id, VASurfaceID target) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto it = d.contexts.find(id);
  if (it == d.contexts.end()) return VA_STATUS_ERROR_INVALID_CONTEXT;
  it->second.target = target;
  it->second.pending.clear();
  return VA_STATUS_SUCCESS;
}

VAStatus render_picture(VADriverContextP ctx, VAContextID id, VABufferID* bufs, int n) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto c = d.contexts.find(id);
  if (c == d.contexts.end()) return VA_STATUS_ERROR_INVALID_CONTEXT;
  for (int i = 0; i < n; ++i) {
    auto b = d.buffers.find(bufs[i]);
    if (b == d.buffers.end()) return VA_STATUS_ERROR_INVALID_BUFFER;
    if (b->second.type != VAProcPipelineParameterBufferType) continue;
    VAProcPipelineParameterBuffer p;
    std::memcpy(&p, b->second.data.data(), sizeof p);
    c->second.pending.push_back(p);
  }
  return VA_STATUS_SUCCESS;
}

VARectangle region_or_whole(const VARectangle* r, const Surface& s) {
  if (r && r->width > 0 && r->height > 0) return *r;
  return {0, 0, static_cast<uint16_t>(s.width), static_cast<uint16_t>(s.height)};
}

/// Bilinear scale of one NV12 plane (channels 1 for Y, 2 for interleaved UV).
void scale_plane(const uint8_t* src, int spitch, int sx, int sy, int sw, int sh, uint8_t* dst,
                 int dpitch, int dx, int dy, int dw, int dh, int channels) {
  for (int y = 0; y < dh; ++y) {
    double fy = std::max(0.0, (y + 0.5) * sh / dh - 0.5);
    int y0 = std::min(static_cast<int>(fy), sh - 1), y1 = std::min(y0 + 1, sh - 1);
    double wy = fy - y0;
    for (int x = 0; x < dw; ++x) {
      double fx = std::max(0.0, (x + 0.5) * sw / dw - 0.5);
      int x0 = std::min(static_cast<int>(fx), sw - 1), x1 = std::min(x0 + 1, sw - 1);
      double wx = fx - x0;
      for (int c = 0; c < channels; ++c) {
        auto at = [&](int xx, int yy) {
          return src[(sy + yy) * spitch + (sx + xx) * channels + c];
        };
        double v = (at(x0, y0) * (1 - wx) + at(x1, y0) * wx) * (1 - wy) +
                   (at(x0, y1) * (1 - wx) + at(x1, y1) * wx) * wy;
        dst[(dy + y) * dpitch + (dx + x) * channels + c] = static_cast<uint8_t>(v + 0.5);
      }
    }
  }
}

VAStatus end_picture(VADriverContextP ctx, VAContextID id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto c = d.contexts.find(id);
  if (c == d.contexts.end()) return VA_STATUS_ERROR_INVALID_CONTEXT;
  auto out = d.surfaces.find(c->second.target);
  if (out == d.surfaces.end()) return VA_STATUS_ERROR_INVALID_SURFACE;
  for (const auto& p : c->second.pending) {
    auto in = d.surfaces.find(p.surface);
    if (in == d.surfaces.end()) return VA_STATUS_ERROR_INVALID_SURFACE;
    const Surface& s = in->second;
    Surface& t = out->second;
    VARectangle sr = region_or_whole(p.surface_region, s), dr = region_or_whole(p.output_region, t);
    const uint8_t* sy = s.nv12.data();
    const uint8_t* suv = sy + static_cast<size_t>(s.pitch) * ((s.height + 1) & ~1);
    uint8_t* ty = t.nv12.data();
    uint8_t* tuv = ty + static_cast<size_t>(t.pitch) * ((t.height + 1) & ~1);
    scale_plane(sy, s.pitch, sr.x, sr.y, sr.width, sr.height, ty, t.pitch, dr.x, dr.y, dr.width,
                dr.height, 1);
    scale_plane(suv, s.pitch, sr.x / 2, sr.y / 2, (sr.width + 1) / 2, (sr.height + 1) / 2, tuv,
                t.pitch, dr.x / 2, dr.y / 2, (dr.width + 1) / 2, (dr.height + 1) / 2, 2);
  }
  c->second.pending.clear();
  return VA_STATUS_SUCCESS;
}

VAStatus sync_surface(VADriverContextP, VASurfaceID) { return VA_STATUS_SUCCESS; }

VAStatus query_surface_status(VADriverContextP, VASurfaceID, VASurfaceStatus* s) {
  *s = VASurfaceReady;
  return VA_STATUS_SUCCESS;
}

VAStatus query_image_formats(VADriverContextP, VAImageFormat* list, int* n) {
  list[0] = nv12_format();
  *n = 1;
  return VA_STATUS_SUCCESS;
}

VAStatus create_image(VADriverContextP ctx, VAImageFormat* format, int w, int h, VAImage* out) {
  if (format->fourcc != VA_FOURCC_NV12) return VA_STATUS_ERROR_INVALID_IMAGE_FORMAT;
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  VAImage img{};
  img.image_id = d.next_id++;
  img.format = nv12_format();
  img.width = static_cast<uint16_t>(w);
  img.height = static_cast<uint16_t>(h);
  img.num_planes = 2;
  int pitch = (w + 63) & ~63, rows = (h + 1) & ~1;
  img.pitches[0] = img.pitches[1] = static_cast<uint32_t>(pitch);
  img.offsets[0] = 0;
  img.offsets[1] = static_cast<uint32_t>(pitch * rows);
  img.data_size = static_cast<uint32_t>(pitch * rows * 3 / 2);
  Buffer b;
  b.type = VAImageBufferType;
  b.data.assign(img.data_size, 0);
  img.buf = d.next_id++;
  d.buffers[img.buf] = std::move(b);
  d.images[img.image_id] = {img};
  *out = img;
  return VA_STATUS_SUCCESS;
}

VAStatus derive_image(VADriverContextP, VASurfaceID, VAImage*) { return VA_STATUS_ERROR_OPERATION_FAILED; }

VAStatus destroy_image(VADriverContextP ctx, VAImageID id) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto it = d.images.find(id);
  if (it == d.images.end()) return VA_STATUS_ERROR_INVALID_IMAGE;
  d.buffers.erase(it->second.image.buf);
  d.images.erase(it);
  return VA_STATUS_SUCCESS;
}

/// Copies a w x h NV12 rectangle between a surface and an image (both pitched, same layout).
void copy_nv12(const uint8_t* src, int spitch, int srows, uint8_t* dst, int dpitch, int drows, int w, int h) {
  for (int y = 0; y < h; ++y) std::memcpy(dst + y * dpitch, src + y * spitch, w);
  const uint8_t* suv = src + spitch * srows;
  uint8_t* duv = dst + dpitch * drows;
  for (int y = 0; y < (h + 1) / 2; ++y) std::memcpy(duv + y * dpitch, suv + y * spitch, (w + 1) & ~1);
}

VAStatus get_image(VADriverContextP ctx, VASurfaceID sid, int x, int y, unsigned int w, unsigned int h,
                   VAImageID iid) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto s = d.surfaces.find(sid);
  auto i = d.images.find(iid);
  if (s == d.surfaces.end()) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (i == d.images.end() || x || y) return VA_STATUS_ERROR_INVALID_IMAGE;
  const VAImage& img = i->second.image;
  auto& buf = d.buffers[img.buf].data;
  int iw = std::min<int>(w, std::min<int>(img.width, s->second.width));
  int ih = std::min<int>(h, std::min<int>(img.height, s->second.height));
  copy_nv12(s->second.nv12.data(), s->second.pitch, (s->second.height + 1) & ~1, buf.data(),
            static_cast<int>(img.pitches[0]), (img.height + 1) & ~1, iw, ih);
  return VA_STATUS_SUCCESS;
}

VAStatus put_image(VADriverContextP ctx, VASurfaceID sid, VAImageID iid, int sx, int sy, unsigned int sw,
                   unsigned int sh, int dx, int dy, unsigned int dw, unsigned int dh) {
  auto& d = drv(ctx);
  std::lock_guard lock(d.mu);
  auto s = d.surfaces.find(sid);
  auto i = d.images.find(iid);
  if (s == d.surfaces.end()) return VA_STATUS_ERROR_INVALID_SURFACE;
  if (i == d.images.end() || sx || sy || dx || dy || sw != dw || sh != dh)
    return VA_STATUS_ERROR_INVALID_IMAGE;  // FFmpeg only puts whole, unscaled images
  const VAImage& img = i->second.image;
  const auto& buf = d.buffers[img.buf].data;
  int w = std::min<int>(sw, s->second.width), h = std::min<int>(sh, s->second.height);
  copy_nv12(buf.data(), static_cast<int>(img.pitches[0]), (img.height + 1) & ~1, s->second.nv12.data(),
            s->second.pitch, (s->second.height + 1) & ~1, w, h);
  return VA_STATUS_SUCCESS;
}

VAStatus query_pipeline_caps(VADriverContextP, VAContextID, VABufferID*, unsigned int,
                             VAProcPipelineCaps* caps) {
  // Callers fill in the array they want (input or output colour standards) and may leave the
  // other one uninitialised: only a sane count marks an array as provided.
  auto fill = [](VAProcColorStandardType* list, uint32_t* count) {
    if (list && *count > 0 && *count <= VAProcColorStandardCount) {
      list[0] = VAProcColorStandardBT709;
      *count = 1;
    } else {
      *count = 0;
    }
  };
  fill(caps->input_color_standards, &caps->num_input_color_standards);
  fill(caps->output_color_standards, &caps->num_output_color_standards);
  caps->pipeline_flags = caps->filter_flags = 0;
  caps->num_forward_references = caps->num_backward_references = 0;
  caps->rotation_flags = caps->blend_flags = caps->mirror_flags = 0;
  caps->num_additional_outputs = 0;
  caps->num_input_pixel_formats = caps->num_output_pixel_formats = 0;
  return VA_STATUS_SUCCESS;
}

VAStatus query_vpp_filters(VADriverContextP, VAContextID, VAProcFilterType*, unsigned int* n) {
  *n = 0;
  return VA_STATUS_SUCCESS;
}

VAStatus unimplemented() { return VA_STATUS_ERROR_UNIMPLEMENTED; }

// Entry points libva insists on but Kiln never calls all answer "unimplemented".
#pragma GCC diagnostic ignored "-Wcast-function-type"
template <class F>
F stub() {
  return reinterpret_cast<F>(&unimplemented);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) VAStatus __vaDriverInit_1_0(VADriverContextP ctx) {
  ctx->pDriverData = new Driver;
  ctx->version_major = VA_MAJOR_VERSION;
  ctx->version_minor = VA_MINOR_VERSION;
  ctx->max_profiles = 1;
  ctx->max_entrypoints = 1;
  ctx->max_attributes = 1;
  ctx->max_image_formats = 1;
  ctx->max_subpic_formats = 1;
  ctx->max_display_attributes = 1;
  ctx->str_vendor = "Kiln CPU VA driver (tests only)";
  VADriverVTable* v = ctx->vtable;
  v->vaTerminate = terminate;
  v->vaQueryConfigProfiles = query_profiles;
  v->vaQueryConfigEntrypoints = query_entrypoints;
  v->vaGetConfigAttributes = get_config_attributes;
  v->vaCreateConfig = create_config;
  v->vaDestroyConfig = destroy_config;
  v->vaQueryConfigAttributes = query_config_attributes;
  v->vaCreateSurfaces = create_surfaces;
  v->vaCreateSurfaces2 = create_surfaces2;
  v->vaDestroySurfaces = destroy_surfaces;
  v->vaQuerySurfaceAttributes = query_surface_attributes;
  v->vaCreateContext = create_context;
  v->vaDestroyContext = destroy_context;
  v->vaCreateBuffer = create_buffer;
  v->vaBufferSetNumElements = buffer_set_num_elements;
  v->vaMapBuffer = map_buffer;
  v->vaUnmapBuffer = unmap_buffer;
  v->vaDestroyBuffer = destroy_buffer;
  v->vaBeginPicture = begin_picture;
  v->vaRenderPicture = render_picture;
  v->vaEndPicture = end_picture;
  v->vaSyncSurface = sync_surface;
  v->vaQuerySurfaceStatus = query_surface_status;
  v->vaQueryImageFormats = query_image_formats;
  v->vaCreateImage = create_image;
  v->vaDeriveImage = derive_image;
  v->vaDestroyImage = destroy_image;
  v->vaGetImage = get_image;
  v->vaPutImage = put_image;
  // Required by libva to be present; never used by Kiln.
  v->vaPutSurface = stub<decltype(v->vaPutSurface)>();
  v->vaSetImagePalette = stub<decltype(v->vaSetImagePalette)>();
  v->vaQuerySubpictureFormats = stub<decltype(v->vaQuerySubpictureFormats)>();
  v->vaCreateSubpicture = stub<decltype(v->vaCreateSubpicture)>();
  v->vaDestroySubpicture = stub<decltype(v->vaDestroySubpicture)>();
  v->vaSetSubpictureImage = stub<decltype(v->vaSetSubpictureImage)>();
  v->vaSetSubpictureChromakey = stub<decltype(v->vaSetSubpictureChromakey)>();
  v->vaSetSubpictureGlobalAlpha = stub<decltype(v->vaSetSubpictureGlobalAlpha)>();
  v->vaAssociateSubpicture = stub<decltype(v->vaAssociateSubpicture)>();
  v->vaDeassociateSubpicture = stub<decltype(v->vaDeassociateSubpicture)>();
  v->vaQueryDisplayAttributes = stub<decltype(v->vaQueryDisplayAttributes)>();
  v->vaGetDisplayAttributes = stub<decltype(v->vaGetDisplayAttributes)>();
  v->vaSetDisplayAttributes = stub<decltype(v->vaSetDisplayAttributes)>();
  v->vaQuerySurfaceError = stub<decltype(v->vaQuerySurfaceError)>();
  v->vaBufferInfo = stub<decltype(v->vaBufferInfo)>();
  v->vaLockSurface = stub<decltype(v->vaLockSurface)>();
  v->vaUnlockSurface = stub<decltype(v->vaUnlockSurface)>();
  if (ctx->vtable_vpp) {
    ctx->vtable_vpp->vaQueryVideoProcPipelineCaps = query_pipeline_caps;
    ctx->vtable_vpp->vaQueryVideoProcFilters = query_vpp_filters;
  }
  return VA_STATUS_SUCCESS;
}
