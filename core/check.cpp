#include "core/check.hpp"

#include <cmath>

namespace tg {

void check_eps(std::string_view what, double eps) {
    TG_CHECK(eps >= 0 && std::isfinite(eps), ValueError, "{}: eps must be finite and >= 0, got {}", what, eps);
}

void check_probability(std::string_view what, double p) {
    TG_CHECK(p >= 0.0 && p <= 1.0, ValueError, "{}: probability must be in [0, 1], got {}", what, p);
}

}  // namespace tg
