#pragma once
/// \file
/// Checks a function's analytic gradients against central finite differences in float64.
#include <functional>
#include <string>
#include <vector>

#include "tensor.hpp"

namespace tg {

/// Step and tolerances of gradcheck(), gradgradcheck() and gradcheck_tensors().
struct GradcheckOptions {
    double eps = 1e-6;   ///< finite-difference step (must be positive)
    /// Absolute tolerance: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
    double atol = 1e-5;
    double rtol = 1e-3;  ///< relative tolerance (see atol)
    uint64_t seed = 0;   ///< for the random weights r of the scalar loss sum(r * f(x))
};

/// The outcome of a gradient check: whether it passed, the worst errors and where they were.
/// message() says it in one line, for a test's failure output.
struct GradcheckResult {
    bool ok = true;             ///< every element passed the atol/rtol test
    double max_abs_error = 0;   ///< worst |analytic - numeric| over all elements
    /// Worst |analytic - numeric| relative to the largest gradient magnitude (analytic or
    /// numeric) of the same input; 0 for inputs whose gradients all lie below atol.
    double max_rel_error = 0;
    int64_t input = -1;         ///< input of the worst relative error (-1: nothing checked)
    int64_t element = -1;       ///< flat index, within that input, of the worst relative error
    double analytic = 0;        ///< the analytic gradient at that element
    double numeric = 0;         ///< the finite-difference gradient at that element
    int64_t checked = 0;        ///< elements compared
    /// One line: "gradcheck passed" or "gradcheck FAILED", the element count, both maximum
    /// errors and the worst element with its two gradients.
    std::string message() const;
};

/// The function gradcheck() and gradgradcheck() differentiate: tensors in, one tensor out.
using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Evaluates fn on float64 copies of inputs. A non-scalar output is reduced with fixed random
/// weights, L = sum(r * fn(x)), so every output element matters. Inputs that require grad are
/// differentiated; if none does, all floating inputs are. i64 inputs pass through unchanged.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});
/// \overload
/// With eps, atol and rtol given directly (the seed is 0).
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, double eps,
                          double atol, double rtol);

/// Checks second derivatives, as torch.autograd.gradgradcheck: the analytic gradient of
/// S(x) = <r2, grad(<r1, fn(x)>)> (r1, r2 fixed random weights; the inner gradient by a backward
/// with create_graph, so S's gradient is a double backward) against central differences of S,
/// in float64, under the same rules as gradcheck for which inputs are differentiated.
GradcheckResult gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

/// The same check for tensors that fn reads itself, such as a module's parameters (convert the
/// module with to(Dtype::f64) first): each must be an f64 leaf that requires grad. Their values
/// are perturbed in place and restored, and their previous gradients are put back afterwards.
/// result.input indexes wrt.
GradcheckResult gradcheck_tensors(const std::function<Tensor()>& fn, const std::vector<Tensor>& wrt,
                                  const GradcheckOptions& options = {});

}  // namespace tg
