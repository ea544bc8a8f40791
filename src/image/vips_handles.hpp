#pragma once
// Owners for libvips objects. A VipsImage is a GObject: this deleter is the one place that
// drops a reference (business code never calls g_object_unref). Only src/image/ includes this.

#include <vips/vips.h>

#include <memory>

namespace kiln::image {

struct VipsImageUnref {
  void operator()(VipsImage* image) const {
    if (image) g_object_unref(image);
  }
};
/// Owns one reference. Functions that produce an image through an out-parameter
/// (`VipsImage** out`) hand it over with adopt().
using VipsImagePtr = std::unique_ptr<VipsImage, VipsImageUnref>;

inline VipsImagePtr adopt(VipsImage* image) { return VipsImagePtr(image); }

/// A g_strfreev'd string vector (vips_image_get_fields).
struct GStrvFree {
  void operator()(gchar** v) const { g_strfreev(v); }
};
using GStrvPtr = std::unique_ptr<gchar*, GStrvFree>;

}  // namespace kiln::image
