#include "image/source_image.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "image/image_metadata.hpp"
#include "image/vips_handles.hpp"
#include "image/vips_runtime.hpp"
#include "log.hpp"

namespace kiln::image {
namespace {

/// What each output format can hold and how it is written: a data table, not branches.
struct OutputFormat {
  std::string_view name;     // as the preset spells it, and the file extension
  int max_side;              // the format's own limit, in pixels
  bool alpha;                // can it keep transparency
};
constexpr std::array kOutputFormats = {
    OutputFormat{"webp", 16383, true},
    // AVIF itself allows 65535, but libheif (what libvips and most readers decode it with)
    // refuses anything past 16384 a side by default: a larger AVIF would not open anywhere.
    OutputFormat{"avif", 16384, true},
    OutputFormat{"jpg", 65535, false},
};
/// AVIF encoder effort (libvips 0..9; libaom's cpu-used is 9 minus it). 2 keeps a 1920-wide
/// variant to a few seconds on one core, at a size within a few percent of the default's.
constexpr int kAvifEffort = 2;

const OutputFormat* output_format(std::string_view name) {
  for (const auto& f : kOutputFormats)
    if (f.name == name) return &f;
  return nullptr;
}

/// Opens with the one loader that matches the bytes, sequentially (pixels are read once, top
/// to bottom, by decode()), failing on a file cut short instead of padding it with grey.
int open_with_loader(const std::string& path, ImageFormat format, VipsImage** out) {
  const char* p = path.c_str();
  constexpr auto seq = VIPS_ACCESS_SEQUENTIAL;
  constexpr auto fail_on = VIPS_FAIL_ON_TRUNCATED;
  switch (format) {
    case ImageFormat::kJpeg: return vips_jpegload(p, out, "access", seq, "fail_on", fail_on, nullptr);
    case ImageFormat::kPng: return vips_pngload(p, out, "access", seq, "fail_on", fail_on, nullptr);
    case ImageFormat::kGif: return vips_gifload(p, out, "access", seq, "fail_on", fail_on, "n", 1, nullptr);
    case ImageFormat::kWebp: return vips_webpload(p, out, "access", seq, "fail_on", fail_on, "n", 1, nullptr);
    case ImageFormat::kTiff: return vips_tiffload(p, out, "access", seq, "fail_on", fail_on, "n", 1, nullptr);
    case ImageFormat::kHeif:
    case ImageFormat::kAvif: return vips_heifload(p, out, "access", seq, "fail_on", fail_on, "n", 1, nullptr);
  }
  vips_error("kiln", "no loader for this format");
  return -1;
}

/// A VipsArrayDouble owner (vips_flatten's background).
struct AreaUnref {
  void operator()(VipsArrayDouble* a) const { vips_area_unref(VIPS_AREA(a)); }
};

/// Applies one vips operation that produces an image: `op(in, &out)`.
template <class Op>
Result<VipsImagePtr> step(VipsImage* in, Op op, Code fallback, std::string_view what) {
  VipsImage* out = nullptr;
  if (op(in, &out) != 0) return vips_failure(fallback, what);
  return adopt(out);
}

double megapixels(int64_t pixels) { return static_cast<double>(pixels) / 1e6; }

}  // namespace

struct SourceImage::Impl {
  std::string path;
  ImageInfo info;
  VipsImagePtr header;   // opened, not decoded
  VipsImagePtr upright;  // decoded into memory, orientation applied
};

SourceImage::SourceImage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SourceImage::SourceImage(SourceImage&&) noexcept = default;
SourceImage& SourceImage::operator=(SourceImage&&) noexcept = default;
SourceImage::~SourceImage() = default;

const ImageInfo& SourceImage::info() const { return impl_->info; }

Result<SourceImage> SourceImage::open(const std::string& path, ImageFormat format, int64_t max_pixels) {
  KILN_RETURN_IF_ERROR(ensure_vips());
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  VipsImage* opened = nullptr;
  if (open_with_loader(path, format, &opened) != 0)
    return vips_failure(Code::kInputTruncated,
                        fmt::format("'{}' starts like an image ({}), but its header cannot be read", path,
                                    image_format_name(format)),
                        "it is damaged or truncated");
  impl->header = adopt(opened);
  impl->info = describe_image(impl->header.get(), format);
  const ImageInfo& info = impl->info;
  // The decompression-bomb check: the header's own numbers, before a single pixel is decoded.
  const int64_t pixels = static_cast<int64_t>(info.width) * info.height;
  if (pixels > max_pixels)
    return Status(Code::kInputLimits,
                  fmt::format("image '{}' is {}x{} ({:.1f} megapixels), over the limit of {:.1f} megapixels "
                              "([image] max_pixels = {}); it was refused before decoding (raise max_pixels "
                              "in the preset if such images are expected)",
                              path, info.width, info.height, megapixels(pixels), megapixels(max_pixels),
                              max_pixels));
  if (info.width < 1 || info.height < 1)
    return Status(Code::kInputTruncated, fmt::format("image '{}' declares a size of {}x{}", path, info.width,
                                                     info.height));
  return SourceImage(std::move(impl));
}

Status SourceImage::decode() {
  auto& d = *impl_;
  VipsImage* memory = vips_image_copy_memory(d.header.get());
  if (!memory)
    return vips_failure(Code::kInputTruncated, fmt::format("image '{}' could not be decoded", d.path),
                        "it is damaged or truncated");
  VipsImagePtr decoded = adopt(memory);
  d.header.reset();  // the loader and its file go; the pixels are in memory now
  auto upright = step(decoded.get(), [](VipsImage* in, VipsImage** out) { return vips_autorot(in, out, nullptr); },
                      Code::kInternal, fmt::format("applying the EXIF orientation of '{}'", d.path));
  if (!upright) return upright.status();
  d.upright = std::move(upright).value();
  return Status::ok();
}

Result<VariantWritten> SourceImage::write(const VariantRequest& req) const {
  const auto& d = *impl_;
  if (!d.upright) return Status(Code::kInternal, "SourceImage::write before decode()");
  const OutputFormat* fmt_spec = output_format(req.format);
  if (!fmt_spec) return Status(Code::kUsage, fmt::format("image format '{}' is not one of webp, avif, jpg", req.format));
  const int src_w = vips_image_get_width(d.upright.get()), src_h = vips_image_get_height(d.upright.get());
  const int width = std::clamp(req.width, 1, src_w);
  const int height = std::max(1, static_cast<int>(std::lround(static_cast<double>(src_h) * width / src_w)));
  if (width > fmt_spec->max_side || height > fmt_spec->max_side)
    return Status(Code::kUnsupported, fmt::format("{}x{} is past {}'s limit of {} pixels a side", width, height,
                                                  req.format, fmt_spec->max_side));
  const std::string& label = req.label.empty() ? req.path : req.label;
  const std::string what = fmt::format("making {} from '{}'", label, d.path);

  // Resize (never up), then bring the colours to what the format holds.
  Result<VipsImagePtr> img = width == src_w && height == src_h
      ? step(d.upright.get(), [](VipsImage* in, VipsImage** out) { return vips_copy(in, out, nullptr); },
             Code::kInternal, what)
      : step(d.upright.get(), [&](VipsImage* in, VipsImage** out) {
          return vips_resize(in, out, static_cast<double>(width) / src_w, "vscale",
                             static_cast<double>(height) / src_h, nullptr);
        }, Code::kInternal, what);
  if (!img) return img.status();
  VipsImagePtr cur = std::move(img).value();
  const VipsInterpretation interp = vips_image_get_interpretation(cur.get());
  if (interp == VIPS_INTERPRETATION_CMYK) {
    // Through the embedded profile (libvips' own CMYK profile when there is none) to sRGB; the
    // output then carries the sRGB profile.
    auto rgb = step(cur.get(), [](VipsImage* in, VipsImage** out) {
      return vips_icc_transform(in, out, "srgb", "embedded", TRUE, nullptr);
    }, Code::kInputUnsupported, fmt::format("converting the CMYK image '{}' to sRGB", d.path));
    if (!rgb) return rgb.status();
    cur = std::move(rgb).value();
  } else if (vips_image_get_format(cur.get()) != VIPS_FORMAT_UCHAR ||
             (interp != VIPS_INTERPRETATION_sRGB && interp != VIPS_INTERPRETATION_B_W)) {
    const VipsInterpretation target =
        vips_image_get_bands(cur.get()) - vips_image_hasalpha(cur.get()) >= 3 ? VIPS_INTERPRETATION_sRGB
                                                                              : VIPS_INTERPRETATION_B_W;
    auto converted = step(cur.get(), [&](VipsImage* in, VipsImage** out) {
      return vips_colourspace(in, out, target, nullptr);
    }, Code::kInputUnsupported, fmt::format("converting '{}' ({}) to 8-bit {}", d.path, d.info.colour_space,
                                            target == VIPS_INTERPRETATION_sRGB ? "sRGB" : "greyscale"));
    if (!converted) return converted.status();
    cur = std::move(converted).value();
  }
  if (vips_image_get_format(cur.get()) != VIPS_FORMAT_UCHAR) {
    auto cast = step(cur.get(), [](VipsImage* in, VipsImage** out) {
      return vips_cast(in, out, VIPS_FORMAT_UCHAR, nullptr);
    }, Code::kInternal, what);
    if (!cast) return cast.status();
    cur = std::move(cast).value();
  }
  if (!fmt_spec->alpha && vips_image_hasalpha(cur.get())) {
    std::unique_ptr<VipsArrayDouble, AreaUnref> white(vips_array_double_newv(1, 255.0));
    auto flat = step(cur.get(), [&](VipsImage* in, VipsImage** out) {
      return vips_flatten(in, out, "background", white.get(), nullptr);
    }, Code::kInternal, what);
    if (!flat) return flat.status();
    cur = std::move(flat).value();
  }
  // A private copy whose metadata may be cut without touching the decoded image's.
  auto out = step(cur.get(), [](VipsImage* in, VipsImage** o) { return vips_copy(in, o, nullptr); },
                  Code::kInternal, what);
  if (!out) return out.status();
  strip_for_output(out->get(), req.keep_metadata);

  VipsImage* im = out->get();
  const char* path = req.path.c_str();
  const std::string writing = fmt::format("writing {}", label);
  if (fmt_spec->name == "webp")
    VIPS_TRY(vips_webpsave(im, path, "Q", req.quality, nullptr), Code::kIo, writing);
  else if (fmt_spec->name == "avif")
    VIPS_TRY(vips_heifsave(im, path, "Q", req.quality, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort",
                           kAvifEffort, nullptr),
             Code::kIo, writing);
  else
    VIPS_TRY(vips_jpegsave(im, path, "Q", req.quality, "optimize_coding", TRUE, "interlace", TRUE, nullptr),
             Code::kIo, writing);
  std::error_code ec;
  const auto size = std::filesystem::file_size(req.path, ec);
  if (ec) return Status(Code::kIo, fmt::format("{} was not written: {}", label, ec.message()));
  return VariantWritten{width, height, static_cast<int64_t>(size)};
}

}  // namespace kiln::image
