#pragma once
/// \file
/// Everything in tg::nn: includes every header of the nn layer.
#include "attention.hpp"
#include "conv.hpp"
#include "diagnostics.hpp"
#include "gpt.hpp"
#include "hessian.hpp"
#include "init.hpp"
#include "layers.hpp"
#include "module.hpp"
#include "normalization.hpp"
#include "residual.hpp"
#include "rnn.hpp"
#include "safetensors.hpp"
#include "transformer.hpp"
