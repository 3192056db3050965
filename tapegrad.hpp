#pragma once
// tapegrad: a small tape-based reverse-mode autograd framework. One header for everything.
#include "core/autograd.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/format.hpp"
#include "core/gradcheck.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
#include "nn/nn.hpp"
#include "optim/optim.hpp"
