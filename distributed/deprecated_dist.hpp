#pragma once
// Deprecated: this layer moved from <tapegrad/dist/dist.hpp> to <tapegrad/distributed/dist.hpp>
// (and its CMake target from tapegrad::dist to tapegrad::distributed). This forwarder is
// installed as <tapegrad/dist/dist.hpp> for one release; include the new path instead.
#pragma message("<tapegrad/dist/dist.hpp> is deprecated: include <tapegrad/distributed/dist.hpp> and link tapegrad::distributed")
#include "../distributed/dist.hpp"  // IWYU pragma: export
