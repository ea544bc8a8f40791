#pragma once
// A test encode: the cheapest proof that a device works end to end. Used by `kiln devices
// --check` and to let a quarantined device back into service.

#include "kiln/backend.hpp"
#include "kiln/status.hpp"

namespace kiln::pipeline {

/// The recipe for `device`, or why not. Honours fault injection (KILN_FAULT=BACKEND:open),
/// so a device that is made to fail at open fails its test encodes too.
Result<VideoRecipe> open_recipe(const BackendOps& backend, const Device& device,
                                const MediaInfo& input);

/// Opens the device's recipe and pushes 30 synthetic 320x180 frames through its scaler (to
/// 160x90) and encoder, then flushes. Ok when packets came out.
Status test_encode(const BackendOps& backend, const Device& device);

/// test_encode with the device's own backend from the table; kUnsupported for a backend this
/// build does not have.
Status test_encode_device(const Device& device);

}  // namespace kiln::pipeline
