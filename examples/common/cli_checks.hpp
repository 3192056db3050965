#pragma once
// Command-line checks for real-valued options, shared by the examples. CLI11's Range and
// PositiveNumber print their bounds with %f ("0.000000 to 10.000000", or 300 digits for the
// largest double); these print the value as the user typed it and the bounds as written:
// "--lr: 30 is not in [0, 10]".
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <string>

namespace example {

/// Accepts a number v with accept(v); otherwise the message is fmt(typed value).
template <class Accept>
CLI::Validator number_check(Accept accept, std::string description, std::string complaint) {
    return CLI::Validator(
        [accept, complaint](std::string& s) -> std::string {
            std::size_t used = 0;
            double v = NAN;
            try {
                v = std::stod(s, &used);
            } catch (const std::exception&) {
            }
            if (used != s.size() || std::isnan(v)) return fmt::format("{} is not a number", s);
            return accept(v) ? "" : s + complaint;
        },
        std::move(description));
}

/// lo <= v <= hi.
inline CLI::Validator in_range(double lo, double hi) {
    return number_check([lo, hi](double v) { return v >= lo && v <= hi; }, fmt::format("in [{}, {}]", lo, hi),
                        fmt::format(" is not in [{}, {}]", lo, hi));
}

/// v > 0 and finite.
inline CLI::Validator positive() {
    return number_check([](double v) { return v > 0 && std::isfinite(v); }, "positive", " is not a positive number");
}

/// v >= 0 and finite.
inline CLI::Validator non_negative() {
    return number_check([](double v) { return v >= 0 && std::isfinite(v); }, "non-negative", " is not a number >= 0");
}

}  // namespace example
