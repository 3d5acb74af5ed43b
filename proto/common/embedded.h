// Data files compiled into the binary by cmake/Embed.cmake (built-in catalogs and example scenarios).
#pragma once
#include <cstddef>
#include <string_view>

namespace clustersim {

struct EmbeddedFile {
  std::string_view name;     // file name without directory, e.g. "h100_sxm.textproto"
  std::string_view content;  // the whole file
};

}  // namespace clustersim
