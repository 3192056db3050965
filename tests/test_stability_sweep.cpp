// The stability sweep's two definitions (examples/stability_sweep/stability.hpp), on cases worked
// out by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "../examples/stability_sweep/stability.hpp"

using example::classify_divergence;
using example::loglog_fit;

TEST_CASE("stability sweep: a falling or flat loss has not diverged") {
    CHECK_FALSE(classify_divergence({2.0, 1.0, 0.5}).diverged);
    CHECK_FALSE(classify_divergence({1.0, 1.0, 1.0}).diverged);  // equal to the start is not above it
    CHECK_FALSE(classify_divergence({}).diverged);
    CHECK_FALSE(classify_divergence({2.0, 1.0, 0.5}).step.has_value());
}

TEST_CASE("stability sweep: a non-finite loss diverges at the first step that has one") {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    const auto d = classify_divergence({2.0, 3.0, nan});
    CHECK(d.diverged);
    CHECK(d.step == 2);
    CHECK(classify_divergence({1.0, inf}).step == 1);
    CHECK(classify_divergence({1.0, 0.5, -inf}).step == 2);
}

TEST_CASE("stability sweep: a smoothed loss that ends above the start diverges where it last rose above it") {
    // s = 1, 1.1, 1.19, 1.271: above 1 from step 1 on.
    const auto rising = classify_divergence({1.0, 2.0, 2.0, 2.0});
    CHECK(rising.diverged);
    CHECK(rising.step == 1);
    // s = 1, 0.9, 0.81, 1.029, 1.2261: below the start until step 2, above from step 3.
    const auto late = classify_divergence({1.0, 0.0, 0.0, 3.0, 3.0});
    CHECK(late.diverged);
    CHECK(late.step == 3);
}

TEST_CASE("stability sweep: a loss spike the smoothed loss recovers from is not divergence") {
    // s = 1, 1.4, 1.26, 1.134, 1.0206, 0.91854: back below the start at the end.
    CHECK_FALSE(classify_divergence({1.0, 5.0, 0.0, 0.0, 0.0, 0.0}).diverged);
}

TEST_CASE("stability sweep: loglog_fit recovers the exponent and factor of a power law") {
    const auto f = loglog_fit({2, 4, 8, 16}, {3 / std::sqrt(2.0), 1.5, 3 / std::sqrt(8.0), 0.75});
    CHECK(f.slope == Approx(-0.5).epsilon(1e-12));
    CHECK(f.intercept == Approx(std::log(3.0)).epsilon(1e-12));
    CHECK(loglog_fit({1, 10}, {5, 5}).slope == Approx(0.0).margin(1e-12));
    // Least squares over (log 1, 0), (log 2, log 2), (log 4, 0): the slope is 0.
    CHECK(loglog_fit({1, 2, 4}, {1, 2, 1}).slope == Approx(0.0).margin(1e-12));
}

TEST_CASE("stability sweep: loglog_fit ignores points it cannot take the log of, and says when too few are left") {
    CHECK(loglog_fit({1, 2, 3, 4}, {1, 2, 0, 4}).slope == Approx(1.0).epsilon(1e-12));
    REQUIRE_THROWS_WITH(loglog_fit({2, 4}, {1, 0}), Catch::Contains("got 1 usable of 2"));
    REQUIRE_THROWS_WITH(loglog_fit({2, 2}, {1, 3}), Catch::Contains("distinct positive x"));
    REQUIRE_THROWS_WITH(loglog_fit({2, 4}, {1}), Catch::Contains("2 x values but 1 y values"));
}

TEST_CASE("curvature is measured at the powers of two, every N steps, after warmup and at the end", "[stability]") {
    std::vector<int64_t> got;
    for (int64_t s = 1; s <= 30; ++s)
        if (example::is_curvature_step(s, 10, 3, 30)) got.push_back(s);
    CHECK(got == std::vector<int64_t>{1, 2, 3, 4, 8, 10, 20, 30});
    got.clear();
    for (int64_t s = 1; s <= 7; ++s)
        if (example::is_curvature_step(s, 1, 0, 7)) got.push_back(s);
    CHECK(got == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7});
    CHECK_FALSE(example::is_curvature_step(16, 10, 3, 30));  // a power of two past N
}
