#pragma once
// Shared test helpers: the one gradcheck assertion every op test goes through, and value checks.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <tapegrad.hpp>
#include <vector>

namespace tg::test {

/// Gradient-check tolerance per op family: the relative error must stay below max_rel.
struct Tol {
    double max_rel = 1e-6;
    double eps = 1e-6;
};

inline GradcheckOptions options_for(Tol tol) { return {.eps = tol.eps, .atol = 1e-7, .rtol = 1e-5}; }

/// The assertions every gradient check makes: something was checked, every element passed,
/// and the relative error stays below tol.max_rel.
inline GradcheckResult require_passed(const GradcheckResult& r, Tol tol) {
    INFO(r.message());
    CHECK(r.checked > 0);
    CHECK(r.ok);
    CHECK(r.max_rel_error < tol.max_rel);
    return r;
}

/// Runs gradcheck in float64 on fn and requires it to pass with max_rel_error below tol.max_rel.
/// Returns the result so a test can log or inspect it further.
inline GradcheckResult check_grad(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                                  Tol tol = {}) {
    return require_passed(gradcheck(fn, inputs, options_for(tol)), tol);
}

/// The same check for a module: fn() computes the output from the module's own parameters
/// (and from extra, f64 leaves that require grad). The module must already be f64.
inline GradcheckResult check_module_grad(nn::Module& module, const std::function<Tensor()>& fn,
                                         std::vector<Tensor> extra = {}, Tol tol = {}) {
    std::vector<Tensor> wrt = module.parameters();
    wrt.insert(wrt.end(), extra.begin(), extra.end());
    return require_passed(gradcheck_tensors(fn, wrt, options_for(tol)), tol);
}

/// A float64 tensor of the given shape with values from a standard normal, seeded.
inline Tensor randn64(const Shape& shape, uint64_t seed) { return Tensor::randn(shape, Dtype::f64, seed); }

/// Requires t to hold exactly the given values (within abs tolerance) and shape.
inline void require_values(const Tensor& t, const Shape& shape, const std::vector<double>& expected,
                           double tol = 1e-12) {
    REQUIRE(t.shape() == shape);
    const std::vector<double> got = t.to_vector<double>();
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO(fmt::format("element {}: got {}, expected {}", i, got[i], expected[i]));
        CHECK(got[i] == Approx(expected[i]).margin(tol).epsilon(tol));
    }
}

/// Requires got to be defined, with want's shape and values within tol (absolute and relative),
/// as require_values.
inline void require_close(const Tensor& got, const Tensor& want, double tol = 1e-12) {
    REQUIRE(got.defined());
    require_values(got, want.shape(), want.to_vector<double>(), tol);
}

/// max |x - ref| / max |ref| over all elements (max |ref| taken as 1 when it is 0): how far a
/// lower-precision result is from its reference, relative to the reference's scale.
inline double max_rel_diff(const Tensor& x, const Tensor& ref) {
    const auto a = x.to_vector<double>(), b = ref.to_vector<double>();
    REQUIRE(a.size() == b.size());
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return diff / (scale > 0 ? scale : 1.0);
}

/// Every tensor of a safetensors file (the reference data of tests/data), by name.
inline std::map<std::string, Tensor> read_reference(const std::string& path) {
    std::map<std::string, Tensor> m;
    for (auto& [name, t] : nn::load_safetensors(path).tensors) m[name] = t;
    return m;
}

/// A fresh directory under the system temp dir, removed with everything in it at scope end.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "tapegrad-test-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace tg::test
