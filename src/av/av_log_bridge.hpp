#pragma once

namespace kiln::av {

/// Routes FFmpeg's av_log into spdlog's "ffmpeg" logger (errors -> warn, warnings -> info,
/// info -> debug). Idempotent; call once at start-up.
void install_log_bridge();

}  // namespace kiln::av
