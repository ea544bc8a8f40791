#pragma once
// What an image's header says (dimensions, colour, camera, capture time, GPS), and which of
// its metadata an output may carry. Only src/image/ includes this.

#include <vips/vips.h>

#include "image/image_sniff.hpp"
#include "kiln/media_info.hpp"

namespace kiln::image {

/// Reads an opened (not decoded) image's header and metadata. Strings from the file are cut to
/// printable ASCII: they end up in JSON and in logs.
ImageInfo describe_image(VipsImage* header, ImageFormat format);

/// Removes from `image` (a private copy: the caller's own vips_copy) every metadata item an
/// output must not carry. keep_metadata false: all but the ICC profile. true: EXIF (less its
/// GPS block), IPTC and the ICC profile stay; XMP goes, since it can repeat the position.
void strip_for_output(VipsImage* image, bool keep_metadata);

}  // namespace kiln::image
